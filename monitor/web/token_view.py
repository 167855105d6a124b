"""What the page of one token reads: its row, its app, its firing alerts and its newest snapshots.

Four indexed reads (the name's unique index, its StatusRow by primary key, alerts by token, snapshots by
token and time); the history is bounded, so a token that changed every hour for a year still makes a small
page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from monitor.db.models import Alert, App, Snapshot, Token
from monitor.registry import Change, recent
from monitor.state import Horizons
from monitor.state.row import StatusRow
from monitor.state.sql import STATUS_SELECT
from monitor.web.charts import Observation

HISTORY_ROWS = 100

# Only what the page shows is loaded: never the token's ciphertext, and columns added later cost nothing.
TOKEN_FIELDS = (
    Token.id, Token.name, Token.fingerprint, Token.labels, Token.auto_refresh, Token.source,
    Token.secret_changed_at, Token.next_check_at, Token.last_check_at, Token.last_success_at,
    Token.last_result, Token.last_error, Token.consecutive_failures, Token.failing_since, Token.is_valid,
    Token.expires_at, Token.data_access_expires_at, Token.issued_at, Token.scopes, Token.token_type,
    Token.application, Token.user_id, Token.invalid_reason, Token.last_refresh_at, Token.next_refresh_at,
    Token.refresh_error, Token.callback_check_at, Token.callback_check_reason, Token.muted_until,
    Token.muted_at, Token.mute_comment, Token.profile_id, Token.granular_scopes, Token.token_metadata,
    Token.expiry_source, Token.validity_source,
)  # fmt: skip
SNAPSHOT_FIELDS = (
    Snapshot.observed_at, Snapshot.result, Snapshot.reason, Snapshot.fingerprint, Snapshot.is_valid,
    Snapshot.expires_at, Snapshot.data_access_expires_at, Snapshot.issued_at, Snapshot.scopes,
    Snapshot.error_code, Snapshot.error_subcode, Snapshot.token_type, Snapshot.profile_id,
    Snapshot.granular_scopes, Snapshot.expiry_source, Snapshot.validity_source,
)  # fmt: skip


@dataclass(frozen=True)
class TokenView:
    """One token as its page shows it; `history` newest first."""

    row: StatusRow
    token: Token
    inspector_state: str | None
    alerts: Sequence[Alert]
    history: Sequence[Snapshot]
    changes: Sequence[Change] = ()  # newest first: strings replaced or refreshed, labels, mutes

    def observations(self) -> list[Observation]:
        """The history oldest first, as the timeline reads it."""
        return [
            Observation(s.observed_at, s.is_valid, s.expires_at, s.data_access_expires_at)
            for s in reversed(self.history)
        ]


def read_token_view(session: Session, name: str, h: Horizons, now: float) -> TokenView | None:
    """The token called `name` with its alerts and newest HISTORY_ROWS snapshots, or None."""
    stmt = select(Token, App).join(App, Token.app_id == App.id).where(Token.name == name)
    found = session.execute(
        stmt.options(
            load_only(*TOKEN_FIELDS),
            load_only(App.name, App.inspector_state, App.muted_until, App.mute_comment),
        )
    )
    pair = found.first()
    if pair is None:
        return None
    token, app = pair
    alerts = session.scalars(
        select(Alert)
        .where(Alert.token_id == token.id, Alert.status == "firing")
        .options(load_only(Alert.alertname, Alert.severity, Alert.started_at, Alert.notified_severity))
        .order_by(Alert.alertname)
    ).all()
    history = session.scalars(
        select(Snapshot)
        .options(load_only(*SNAPSHOT_FIELDS))
        .where(Snapshot.token_id == token.id)
        .order_by(Snapshot.observed_at.desc(), Snapshot.id.desc())
        .limit(HISTORY_ROWS)
    ).all()
    changes = recent(session, token.id, HISTORY_ROWS)
    stmt = select(*STATUS_SELECT).join(App, Token.app_id == App.id).where(Token.id == token.id)
    status = StatusRow.from_row(session.execute(stmt).one()._mapping, h, now)
    return TokenView(status, token, app.inspector_state, alerts, history, changes)
