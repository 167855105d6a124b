"""The schema: apps, tokens (with their current observation), snapshots, alert state, the outbox, sources.

Times are float Unix seconds in DOUBLE columns named `*_at` (the same on SQLite, PostgreSQL and MariaDB).
The token row carries a denormalised copy of its latest observation so that scrapes, `status` and the alert
ladder read one table; `snapshots` holds the history, one row per change.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from monitor.db.base import NAMING_CONVENTION as NAMING_CONVENTION
from monitor.db.base import Base as Base
from monitor.db.base import BigId as BigId
from monitor.db.base import where, where_set
from monitor.db.facts import TYPE_NAME, MetaFacts


class App(Base):
    """A Threads app and the inspector credential used to call debug_token for its tokens."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    threads_app_id: Mapped[str | None] = mapped_column(String(64))
    inspector_kind: Mapped[str] = mapped_column(String(16))  # user_token | app_token
    inspector_secret: Mapped[str] = mapped_column(Text)  # Fernet ciphertext
    inspector_fingerprint: Mapped[str] = mapped_column(String(16))
    inspector_state: Mapped[str | None] = mapped_column(String(16))  # ok | invalid; None until used
    inspector_reason: Mapped[str | None] = mapped_column(String(32))
    inspector_message: Mapped[str | None] = mapped_column(String(300))
    inspector_checked_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    # Fernet ciphertext of the app secret that signs Meta's deauthorize callbacks, for an app whose inspector
    # is a tester token (an app token "TH|id|secret" carries it already); None: callbacks are refused.
    callback_secret: Mapped[str | None] = mapped_column(Text)
    # When the inspector credential was last replaced (apps set-inspector): InspectorInvalid raised by the
    # old one ends as "replaced" (migration 0008).
    inspector_changed_at: Mapped[float | None] = mapped_column(Double)
    # A mute of every token of the app (apps mute): their alerts fire but reach no notifier until then.
    muted_until: Mapped[float | None] = mapped_column(Double)
    muted_at: Mapped[float | None] = mapped_column(Double)
    mute_comment: Mapped[str | None] = mapped_column(String(300))
    # SPEC 16 (0010). No Python-side default: a Core insert at an older revision must not name the column.
    platform: Mapped[str] = mapped_column(String(16), server_default="threads")


class Token(MetaFacts, Base):
    """A registered access token, its schedule, its lease and its latest observation."""

    __tablename__ = "tokens"
    __table_args__ = (
        Index("ix_tokens_due", "next_check_at", "lease_expires_at"),
        # The alert evaluation and the refresh job select the few tokens in or near trouble every few seconds;
        # each term of their OR has an index, so 100,000 healthy rows are not scanned.
        Index("ix_tokens_expires_at", "expires_at"),
        Index("ix_tokens_data_access_expires_at", "data_access_expires_at"),
        Index("ix_tokens_failing_since", "failing_since"),
        Index("ix_tokens_is_valid", "is_valid"),
        Index("ix_tokens_refresh_error", "refresh_error"),
        Index("ix_tokens_scopes_lost", "scopes_lost"),
        Index("ix_tokens_writeback_pending", "writeback_pending"),
        # The status page counts each state from the few rows in it, and charts expiries per day from the
        # valid tokens' horizons without reading their rows (migration 0003).
        Index("ix_tokens_last_result", "last_result"),
        Index("ix_tokens_valid_expires_at", "is_valid", "expires_at"),
        Index("ix_tokens_valid_data_access", "is_valid", "data_access_expires_at"),
        # Tokens a callback or the recheck API asked to check at once (migration 0004), and the user a
        # deauthorize callback names.
        Index("ix_tokens_recheck_at", "recheck_at"),
        Index("ix_tokens_app_user", "app_id", "user_id"),
        # Per-tick work independent of the fleet size (migration 0005): releasing this daemon's leases, the
        # budget's preload of the last hour's calls, and the metrics cache's change marker.
        Index("ix_tokens_lease_owner", "lease_owner", "id", **where_set("lease_owner")),
        Index("ix_tokens_last_check_at", "last_check_at"),
        Index("ix_tokens_last_refresh_at", "last_refresh_at", **where_set("last_refresh_at")),
        Index("ix_tokens_updated_at", "updated_at"),
        # The refresh job's claim, every few seconds: the opted-in tokens by expiry (migration 0006). Without
        # it the claim followed `is_valid` and read every valid token per tick whenever the statistics were
        # older than the checks (a freshly imported fleet's first sweep).
        Index("ix_tokens_auto_refresh", "auto_refresh", "expires_at", **where("auto_refresh IS true")),
        # The muted tokens, read by every alert evaluation and scrape (migration 0008): the few muted ones.
        Index("ix_tokens_muted_until", "muted_until", **where_set("muted_until")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="RESTRICT"), index=True)
    secret: Mapped[str] = mapped_column(Text)  # Fernet ciphertext of the token string
    fingerprint: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    auto_refresh: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(100), index=True)  # None: added by hand
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    secret_changed_at: Mapped[float] = mapped_column(Double)

    # Scheduling and leases (several daemons share one database).
    next_check_at: Mapped[float] = mapped_column(Double)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Double)

    # The last check, successful or not.
    last_check_at: Mapped[float | None] = mapped_column(Double)
    last_success_at: Mapped[float | None] = mapped_column(Double)
    last_result: Mapped[str | None] = mapped_column(String(16))  # valid|invalid|inspector|throttled|error
    last_error: Mapped[str | None] = mapped_column(String(300))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[float | None] = mapped_column(Double)

    # The latest observation (copied from the newest snapshot; kept when a check fails).
    observed_at: Mapped[float | None] = mapped_column(Double)
    is_valid: Mapped[bool | None] = mapped_column(Boolean)
    expires_at: Mapped[float | None] = mapped_column(Double)
    data_access_expires_at: Mapped[float | None] = mapped_column(Double)
    issued_at: Mapped[float | None] = mapped_column(Double)
    scopes: Mapped[str | None] = mapped_column(Text)  # space-separated
    expected_scopes: Mapped[str | None] = mapped_column(Text)  # baseline for TokenScopesLost
    scopes_lost: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # written by checks
    token_type: Mapped[str | None] = mapped_column(TYPE_NAME)
    application: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)
    expected_targets: Mapped[str | None] = mapped_column(Text)  # JSON {scope: [ids]}: TokenScopesLost
    invalid_reason: Mapped[str | None] = mapped_column(String(32))

    # Automatic refresh.
    last_refresh_at: Mapped[float | None] = mapped_column(Double)
    next_refresh_at: Mapped[float | None] = mapped_column(Double)
    refresh_failures: Mapped[int] = mapped_column(Integer, default=0)
    refresh_error: Mapped[str | None] = mapped_column(String(300))
    # A refreshed string that still has to be written back to its source's database (on_refresh).
    writeback_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    writeback_error: Mapped[str | None] = mapped_column(String(300))

    # Checks asked for by a callback or the recheck API (SPEC 11): due at once while recheck_at is set,
    # claimed ahead of scheduled work; callback_check_at is when one last started (one per token per 10 s).
    recheck_at: Mapped[float | None] = mapped_column(Double)
    recheck_reason: Mapped[str | None] = mapped_column(String(16))  # deauthorize | recheck
    callback_check_at: Mapped[float | None] = mapped_column(Double)
    callback_check_reason: Mapped[str | None] = mapped_column(String(16))

    # A mute (tokens mute): the token is checked and its alerts fire, but no notifier hears of them until
    # `muted_until`; then what still fires is notified once (monitor.alerting.rules).
    muted_until: Mapped[float | None] = mapped_column(Double)
    muted_at: Mapped[float | None] = mapped_column(Double)
    mute_comment: Mapped[str | None] = mapped_column(String(300))


class TokenEvent(Base):
    """What was done to a token besides checks (migration 0008): its string replaced or refreshed, labels
    changed, muted or unmuted. `tokens history` and the token page show these between the snapshots."""

    __tablename__ = "token_events"
    __table_args__ = (Index("ix_token_events_token_at", "token_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Double)
    kind: Mapped[str] = mapped_column(String(16))  # replaced | refreshed | labels | muted | unmuted
    via: Mapped[str] = mapped_column(String(16))  # cli | api | import | source | refresh
    fingerprint: Mapped[str | None] = mapped_column(String(16))  # the new string's
    previous_fingerprint: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(300))


class Snapshot(MetaFacts, Base):
    """One row per change of what a check observed about a token."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_token_observed", "token_id", "observed_at"),
        # Retention reads the rows older than its cutoff once a day, in this order (migration 0006).
        Index("ix_snapshots_observed", "observed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"))
    observed_at: Mapped[float] = mapped_column(Double)
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(16))
    is_valid: Mapped[bool | None] = mapped_column(Boolean)
    expires_at: Mapped[float | None] = mapped_column(Double)
    data_access_expires_at: Mapped[float | None] = mapped_column(Double)
    issued_at: Mapped[float | None] = mapped_column(Double)
    scopes: Mapped[str | None] = mapped_column(Text)
    token_type: Mapped[str | None] = mapped_column(TYPE_NAME)
    application: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)


class Source(Base):
    """Sync state of one `[[sources]]` entry (the application's own database)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    last_sync_at: Mapped[float | None] = mapped_column(Double)
    last_success_at: Mapped[float | None] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(String(500))
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    next_sync_at: Mapped[float | None] = mapped_column(Double)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Double)


TOKENS = cast(Table, Token.__table__)
SOURCES = cast(Table, Source.__table__)

# The fleet counts' tables (migration 0012) live in a module of their own; importing it registers them.
import monitor.db.fleet_tables  # noqa: E402,F401

# The alert tables (ladder state, events waiting for group_wait, the notification outbox) likewise.
from monitor.db.alert_tables import Alert as Alert  # noqa: E402
from monitor.db.alert_tables import AlertEventRow as AlertEventRow  # noqa: E402
from monitor.db.alert_tables import Notification as Notification  # noqa: E402

# The callbacks' tables (a deauthorize callback or recheck request, a data deletion done) live in a module of
# their own; importing it registers them, and names them here for the code that imports them from models.
from monitor.db.callback_tables import Callback as Callback  # noqa: E402
from monitor.db.callback_tables import Deletion as Deletion  # noqa: E402
