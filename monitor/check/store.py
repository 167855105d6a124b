"""The sweep's SQL: claim due tokens with leases, load what a check needs (writes.py stores the results).

Claims use SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL and MariaDB, so several daemons share one
database without inspecting a token twice; SQLite has one daemon per file (see SqliteLock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.orm import Session

from monitor.check.observe import SPEC16_FACTS, Observation
from monitor.db import addresses, leases
from monitor.db.models import TOKENS, App, Token
from monitor.db.session import prefer_indexes
from monitor.state import InspectorState, Verdict

T = TOKENS


@dataclass(frozen=True)
class Claimed:
    """A token leased for one check, with what the check and its bookkeeping need."""

    id: int
    name: str
    app_id: int
    secret: str = field(repr=False)
    fingerprint: str
    previous: Observation | None
    last_success_at: float | None
    consecutive_failures: int
    failing_since: float | None
    expected_scopes: str | None = None
    expected_targets: str | None = None  # JSON {scope: [target ids]}: the granular baseline
    address: str | None = None  # PostgreSQL: the leased row's ctid (monitor.check.writes looks there first)


@dataclass(frozen=True)
class AppCredential:
    id: int
    name: str
    secret: str = field(repr=False)
    inspector_state: str | None
    platform: str = "threads"


_CLAIM_COLUMNS = (
    Token.id,
    Token.name,
    Token.app_id,
    Token.secret,
    Token.fingerprint,
    Token.last_result,
    Token.last_error,
    Token.invalid_reason,
    Token.is_valid,
    Token.expires_at,
    Token.data_access_expires_at,
    Token.issued_at,
    Token.scopes,
    Token.token_type,
    Token.application,
    Token.user_id,
    Token.error_code,
    Token.error_subcode,
    Token.last_success_at,
    Token.consecutive_failures,
    Token.failing_since,
    Token.observed_at,
    Token.expected_scopes,
    Token.profile_id,
    Token.granular_scopes,
    Token.token_metadata,
    Token.expiry_source,
    Token.validity_source,
    Token.expected_targets,
)


def _stored_verdict(text: str | None) -> Verdict:
    """The stored last_result as a Verdict: none yet reads as valid; a text no check writes as an error
    (nothing learnt), so a hand-edited row never stops the sweep."""
    if text is None:
        return Verdict.VALID
    return Verdict(text) if text in set(Verdict) else Verdict.ERROR


def _claimed(row: Any) -> Claimed:
    previous = None
    if row.observed_at is not None:
        reason = row.invalid_reason if row.last_result == Verdict.INVALID else None
        previous = Observation(
            result=_stored_verdict(row.last_result),
            reason=reason,
            fingerprint=row.fingerprint,
            is_valid=row.is_valid,
            expires_at=row.expires_at,
            data_access_expires_at=row.data_access_expires_at,
            issued_at=row.issued_at,
            scopes=row.scopes,
            token_type=row.token_type,
            application=row.application,
            user_id=row.user_id,
            error_code=row.error_code,
            error_subcode=row.error_subcode,
            **{name: getattr(row, name) for name in SPEC16_FACTS},
        )
    return Claimed(
        row.id,
        row.name,
        row.app_id,
        row.secret,
        row.fingerprint,
        previous,
        row.last_success_at,
        row.consecutive_failures or 0,
        row.failing_since,
        row.expected_scopes,
        row.expected_targets,
        getattr(row, "address", None),
    )


def claim_due(session: Session, owner: str, now: float, lease: float, limit: int) -> list[Claimed]:
    """Lease up to `limit` due tokens (soonest due first) that nobody else holds.

    A claimed token's next check moves to the end of its lease, like a queue's visibility timeout: the
    next claims read the due index past the tokens in flight instead of through them (each claim of a
    first sweep read every token still being checked again, and dropped it as leased), and a token whose
    daemon died falls due again exactly when its lease runs out. The check's result, or `release_unchecked`,
    sets the real next check."""
    due = (
        select(Token.id)
        # A token queued by a callback is the recheck claim's (claim_rechecks), not the schedule's.
        .where(Token.next_check_at <= now, leases.free(T, now), Token.recheck_at.is_(None))
        .order_by(Token.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # The claim reads the due index in order and stops at `limit`. When most of a small table is due (a
    # first sweep), the planner preferred reading all of it and sorting, on every claim.
    prefer_indexes(session, in_order=True)
    if session.get_bind().dialect.update_returning:
        # PostgreSQL, SQLite: one statement picks, leases and reads the tokens (three statements, each
        # reading the same rows again through another index, were most of a check's database work).
        postgres = session.get_bind().dialect.name == "postgresql"
        taken = (
            update(Token)
            .where(_picked(session, due), leases.free(T, now))
            .values(lease_owner=owner, lease_expires_at=now + lease, next_check_at=now + lease)
            .returning(*_CLAIM_COLUMNS, *([addresses.address_column(T)] if postgres else []))
        )
        rows = session.execute(taken, execution_options={"synchronize_session": False}).all()
        return [_claimed(r) for r in rows]
    return _lease(session, list(session.scalars(due).all()), owner, now, lease, next_check_at=now + lease)


def _picked(session: Session, due: Select[Any]) -> ColumnElement[bool]:
    """The tokens `due` selects: by address on PostgreSQL (monitor.db.addresses), by id elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return addresses.picked(T, due)
    return Token.id.in_(due.scalar_subquery())


def claim_ids(session: Session, ids: Sequence[int], owner: str, now: float, lease: float) -> list[Claimed]:
    """Lease specific tokens (the `check` command) unless another process holds them (a lease this owner
    took already, as `tokens set-token` does with the replacement, is its own)."""
    free = leases.free(T, now, owner)
    stmt = select(Token.id).where(Token.id.in_(list(ids)), free).with_for_update(skip_locked=True)
    return _lease(session, list(session.scalars(stmt).all()), owner, now, lease)


def claim_rechecks(session: Session, owner: str, now: float, lease: float, limit: int) -> list[Claimed]:
    """Lease up to `limit` tokens a callback or the recheck API queued (oldest request first) that nobody
    else holds, and mark them started: the request is taken (`recheck_at` cleared) and `callback_check_at`
    set to `now`, in the transaction that leases them, so one daemon checks each request once."""
    stmt = (
        select(Token.id)
        .where(Token.recheck_at.is_not(None), leases.free(T, now))
        .order_by(Token.recheck_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = _lease(session, list(session.scalars(stmt).all()), owner, now, lease)
    if claimed:
        # Ordered: MySQL/MariaDB assign left to right, so the reason is copied before it is cleared.
        started = update(T).where(leases.held(T, owner, [c.id for c in claimed]))
        session.execute(
            started.ordered_values(
                (T.c.callback_check_at, now),
                (T.c.callback_check_reason, T.c.recheck_reason),
                (T.c.recheck_at, None),
                (T.c.recheck_reason, None),
            ),
            execution_options={"synchronize_session": False},
        )
    return claimed


def _lease(
    session: Session, ids: list[int], owner: str, now: float, lease: float, **values: Any
) -> list[Claimed]:
    if not ids or not leases.take(session, T, ids, owner, now, lease, **values):
        return []
    rows = session.execute(select(*_CLAIM_COLUMNS).where(leases.held(T, owner, ids))).all()
    return [_claimed(r) for r in rows]


def load_apps(session: Session, ids: Sequence[int]) -> dict[int, AppCredential]:
    columns = (App.id, App.name, App.inspector_secret, App.inspector_state, App.platform)
    stmt = select(*columns).where(App.id.in_(list(ids)))
    return {
        r.id: AppCredential(r.id, r.name, r.inspector_secret, r.inspector_state, r.platform)
        for r in session.execute(stmt)
    }


def release(
    session: Session, owner: str, ids: Sequence[int] | None = None, next_check_at: float | None = None
) -> int:
    """Drop this owner's leases (all of them, or on `ids`), optionally moving the next check."""
    values = {} if next_check_at is None else {"next_check_at": next_check_at}
    return leases.release(session, T, owner, ids, **values)


def renew(session: Session, owner: str, ids: Sequence[int], until: float) -> None:
    """Extend this owner's leases on `ids` (work queued behind a slow API keeps its claim), and their next
    check with them (see claim_due)."""
    leases.renew(session, T, owner, ids, until, next_check_at=until)


def release_unchecked(session: Session, owner: str, ids: Sequence[int], now: float) -> int:
    """Drop this owner's leases on `ids`, claimed by `claim_due` and left unchecked: due again at once
    (the claim had moved their next check to the end of the lease)."""
    return leases.release(session, T, owner, ids, next_check_at=now)


def set_inspector_state(
    session: Session, app_id: int, state: InspectorState, reason: str | None, message: str | None, now: float
) -> None:
    session.execute(
        update(App)
        .where(App.id == app_id)
        .values(
            inspector_state=state.value,
            inspector_reason=reason,
            inspector_message=message,
            inspector_checked_at=now,
        ),
        execution_options={"synchronize_session": False},
    )


def call_times_since(session: Session, since: float) -> list[float]:
    """When the checks and refreshes stored after `since` happened (one API call each: a lower bound,
    retries are not stored). With several daemons this counts theirs too: conservative for a budget."""
    return [
        *session.scalars(select(Token.last_check_at).where(Token.last_check_at > since)),
        *session.scalars(select(Token.last_refresh_at).where(Token.last_refresh_at > since)),
    ]
