"""Writing refreshed token strings back to their source's database through its `on_refresh` statement.

The refresh job stores a new string in the registry and sets `writeback_pending`; this job executes
`on_refresh` with `:name` and `:token` bind parameters (never string formatting) in its own transaction on
the source database. A failure keeps the flag (retried next tick) and sets `refresh_error`, so
TokenRefreshFailed fires; the new string stays in the registry either way, and the sync leaves it alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.config.load import SourceConfig
from monitor.crypto import Vault
from monitor.db import leases
from monitor.db.models import TOKENS
from monitor.db.session import transaction
from monitor.sources.engines import SourceEngines, SourceError, safe_reason

log = logging.getLogger("monitor.sources")

T = TOKENS
PREFIX = "write-back to source"
LEASE = 300.0  # longer than the source's 60 s statement timeout


@dataclass(frozen=True)
class WritebackReport:
    written: int = 0
    failed: int = 0


def write_back_pending(
    sessions: sessionmaker[Session],
    vault: Vault,
    sources: Mapping[str, SourceConfig],
    engines: SourceEngines,
    now: float,
    *,
    limit: int = 200,
    owner: str = "writeback",
) -> WritebackReport:
    """Write back up to `limit` pending strings of configured sources, one token at a time."""
    if not sources:
        return WritebackReport()
    with sessions() as s:
        stmt = select(T.c.id).where(T.c.writeback_pending.is_(True), T.c.source.in_(list(sources)))
        ids = list(s.scalars(stmt.order_by(T.c.id).limit(limit)).all())
    written = failed = 0
    for token_id in ids:
        outcome = _write_back_one(sessions, vault, sources, engines, token_id, now, f"{owner}:wb")
        written += outcome is True
        failed += outcome is False
    return WritebackReport(written, failed)


def _write_back_one(
    sessions: sessionmaker[Session],
    vault: Vault,
    sources: Mapping[str, SourceConfig],
    engines: SourceEngines,
    token_id: int,
    now: float,
    owner: str,
) -> bool | None:
    """True written, False failed, None leased by someone else (a sweep, a refresh, another daemon) or no
    longer pending.

    The token is leased, not row-locked, while the source's statement runs (up to its 60 s timeout): a row
    lock held that long would stall the sweep's batch writes."""
    with transaction(sessions) as s:
        stmt = (
            select(T.c.name, T.c.secret, T.c.fingerprint, T.c.source, T.c.refresh_error)
            .where(T.c.id == token_id, T.c.writeback_pending.is_(True), leases.free(T, now))
            .with_for_update(skip_locked=True)
        )
        row = s.execute(stmt).first()
        if row is None or row.source not in sources:
            return None
        if not leases.take(s, T, [token_id], owner, now, LEASE):
            return None
    source = sources[row.source]
    error = _execute(source, engines, row.name, vault.decrypt(row.secret))
    mine = leases.held(T, owner, [token_id])
    with transaction(sessions) as s:
        if error is None:
            cleared = None if (row.refresh_error or "").startswith(PREFIX) else row.refresh_error
            # Only if the string is still the one written back: a newer one stays pending.
            s.execute(
                update(T)
                .where(mine, T.c.fingerprint == row.fingerprint)
                .values(writeback_pending=False, writeback_error=None, refresh_error=cleared, updated_at=now)
            )
        else:
            message = f"{PREFIX} {source.name} failed: {error}"[:300]
            s.execute(
                update(T).where(mine).values(writeback_error=message, refresh_error=message, updated_at=now)
            )
        leases.release(s, T, owner, [token_id])
    if error is None:
        log.info("wrote the refreshed string of token %s back to source %s", row.name, source.name)
        return True
    log.warning("token %s: %s failed: %s (retried on the next tick)", row.name, PREFIX, error)
    return False


def _execute(source: SourceConfig, engines: SourceEngines, name: str, token: str) -> str | None:
    """Run on_refresh in its own transaction; None on success, else a reason safe to store and log."""
    if source.on_refresh is None:
        return "the source has no on_refresh statement"
    try:
        engine = engines.get(source)
        with engine.begin() as conn:
            result = conn.execute(text(source.on_refresh), {"name": name, "token": token})
            if result.rowcount == 0:
                return "the statement changed no row (is the account still in the source?)"
    except SourceError as exc:
        return exc.message
    except Exception as exc:
        return safe_reason(exc, source, token)
    return None
