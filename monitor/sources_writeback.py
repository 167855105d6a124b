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
from typing import cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import SourceConfig
from monitor.crypto import Vault
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.sources_read import SourceEngines, SourceError, safe_reason

log = logging.getLogger("monitor.sources")

T = cast(Table, Token.__table__)
PREFIX = "write-back to source"


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
) -> WritebackReport:
    """Write back up to `limit` pending strings of configured sources; one monitor transaction per token."""
    if not sources:
        return WritebackReport()
    with sessions() as s:
        stmt = select(T.c.id).where(T.c.writeback_pending.is_(True), T.c.source.in_(list(sources)))
        ids = list(s.scalars(stmt.order_by(T.c.id).limit(limit)).all())
    written = failed = 0
    for token_id in ids:
        outcome = _write_back_one(sessions, vault, sources, engines, token_id, now)
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
) -> bool | None:
    """True written, False failed, None taken by another daemon or no longer pending."""
    with transaction(sessions) as s:
        # The row lock (SKIP LOCKED) keeps another daemon from writing the same token back concurrently.
        stmt = (
            select(T.c.name, T.c.secret, T.c.source, T.c.refresh_error)
            .where(T.c.id == token_id, T.c.writeback_pending.is_(True))
            .with_for_update(skip_locked=True)
        )
        row = s.execute(stmt).first()
        if row is None or row.source not in sources:
            return None
        source = sources[row.source]
        error = _execute(source, engines, row.name, vault.decrypt(row.secret))
        if error is None:
            cleared = None if (row.refresh_error or "").startswith(PREFIX) else row.refresh_error
            s.execute(
                update(T)
                .where(T.c.id == token_id)
                .values(writeback_pending=False, writeback_error=None, refresh_error=cleared, updated_at=now)
            )
            log.info("wrote the refreshed string of token %s back to source %s", row.name, source.name)
            return True
        message = f"{PREFIX} {source.name} failed: {error}"[:300]
        s.execute(update(T).where(T.c.id == token_id).values(writeback_error=message, refresh_error=message))
        log.warning("token %s: %s (retried on the next tick)", row.name, message)
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
