"""Refreshed token strings that are not yet safely in the database, kept in memory and spooled to disk.

A refresh makes the API issue a new string; until that string is stored, it exists nowhere else. The refresh
job keeps it here, spools it (encrypted with the registry key, mode 0600) next to the key file before it
tries the database, and removes the file once the write succeeded. A daemon restarted after a crash during a
database outage loads the spool and writes the strings then.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from monitor.check.store import release
from monitor.config.load import RefreshConfig
from monitor.crypto import Vault, VaultError, fingerprint
from monitor.db import leases
from monitor.db.models import TOKENS, App, Token
from monitor.graph.platforms import PLATFORMS, platform_named
from monitor.graph.results import RefreshResult
from monitor.graph.wire import BY_ME
from monitor.refresh.rules import UNMOVED, Outcome, RefreshFacts, error_text, moved, next_attempt
from monitor.registry.events import record

log = logging.getLogger("monitor.refresh")

SPOOL_DIR = "refresh-pending"


@dataclass(frozen=True)
class Refreshed:
    """A string the API issued for token `id` (which had `old_fingerprint`), waiting to be stored."""

    id: int
    name: str
    old_fingerprint: str
    token: str = field(repr=False)
    refreshed_at: float
    expires_in: float | None
    writeback: bool  # its source writes refreshed strings back (on_refresh)
    expiry_source: str = "refresh"  # refresh | exchange: what `expires_in` came from (tokens.expiry_source)


class Spool:
    """One encrypted file per refreshed string; every operation is best effort and logs its failures."""

    def __init__(self, directory: Path | None, vault: Vault) -> None:
        self.directory, self.vault = directory, vault

    def _path(self, r: Refreshed) -> Path | None:
        return None if self.directory is None else self.directory / f"{r.id}-{r.old_fingerprint}.spool"

    def put(self, r: Refreshed) -> bool:
        path = self._path(r)
        if path is None:
            return False
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(self.vault.encrypt(json.dumps(asdict(r))))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            return True
        except OSError as exc:
            log.warning(
                "cannot spool the refreshed string of %s to %s (%s): it is kept in memory only",
                r.name,
                path.parent,
                exc.strerror or type(exc).__name__,
            )
            return False

    def remove(self, r: Refreshed) -> None:
        path = self._path(r)
        if path is None:
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove spool file %s: %s", path, exc.strerror or type(exc).__name__)

    def load(self) -> list[Refreshed]:
        """Every spooled string (a daemon that stopped before storing them); unreadable files are kept."""
        if self.directory is None or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.spool")):
            try:
                found.append(Refreshed(**json.loads(self.vault.decrypt(path.read_text(encoding="ascii")))))
            except (OSError, ValueError, TypeError, VaultError) as exc:
                log.error("cannot read spool file %s (%s): left in place", path, type(exc).__name__)
        return found


@dataclass(frozen=True)
class AppRow:
    """What a renewal may need of a token's app: its platform and (ciphertexts) the keys of an exchange."""

    platform: str
    inspector_kind: str
    inspector_secret: str = field(repr=False)
    app_id: str | None
    callback_secret: str | None = field(repr=False)


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    secret: str
    fingerprint: str
    source: str | None
    refresh_failures: int
    facts: RefreshFacts
    kind: str | None = None  # debug_token's type
    app: AppRow | None = None


def expiry_unknown() -> ColumnElement[bool]:
    """SQL of RefreshFacts.expiry_unknown: no expiry known, and only GET /me answers for the token."""
    return and_(Token.expires_at.is_(None), Token.expiry_source.is_(None), Token.validity_source == BY_ME)


def renewable_kinds() -> ColumnElement[bool]:
    """SQL: the token's kind is one its app's platform renews (the same sets as Platform.renews_kind)."""
    terms: list[ColumnElement[bool]] = []
    for name, platform in PLATFORMS.items():
        kind: ColumnElement[bool]
        if platform.renews is not None:
            kind = Token.token_type.in_(sorted(platform.renews))
        else:
            kind = or_(Token.token_type.is_(None), Token.token_type.not_in(sorted(platform.keeps)))
        terms.append(and_(Token.app_id.in_(select(App.id).where(App.platform == name)), kind))
    return or_(*terms)


def claim_eligible(
    session: Session, owner: str, cfg: RefreshConfig, now: float, lease: float, limit: int
) -> list[Candidate]:
    """Lease up to `limit` refresh-eligible tokens (soonest expiry first) that nobody else holds."""
    table = TOKENS
    stmt = (
        select(Token.id)
        .where(
            Token.auto_refresh.is_(True),
            Token.is_valid.is_(True),
            or_(and_(Token.expires_at > now, Token.expires_at < now + cfg.before), expiry_unknown()),
            func.coalesce(Token.issued_at, Token.secret_changed_at) <= now - cfg.min_age,
            or_(Token.last_refresh_at.is_(None), Token.last_refresh_at <= now - cfg.min_age),
            or_(Token.next_refresh_at.is_(None), Token.next_refresh_at <= now),
            or_(Token.writeback_pending.is_(None), Token.writeback_pending.is_(False)),
            renewable_kinds(),
            leases.free(table, now),
        )
        .order_by(Token.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(stmt).all())
    if not ids or not leases.take(session, table, ids, owner, now, lease):
        return []
    rows = session.execute(select(Token).where(leases.held(table, owner, ids))).scalars().all()
    apps = _apps(session, {t.app_id for t in rows})
    return [_candidate(t, apps[t.app_id]) for t in rows]


def _apps(session: Session, ids: set[int]) -> dict[int, AppRow]:
    columns = (App.id, App.platform, App.inspector_kind, App.inspector_secret, App.threads_app_id)
    stmt = select(*columns, App.callback_secret).where(App.id.in_(sorted(ids)))
    return {
        r.id: AppRow(
            r.platform or "threads", r.inspector_kind, r.inspector_secret, r.threads_app_id, r.callback_secret
        )
        for r in session.execute(stmt)
    }


def _candidate(t: Token, app: AppRow) -> Candidate:
    facts = RefreshFacts(
        bool(t.auto_refresh),
        t.is_valid,
        t.expires_at,
        t.issued_at,
        t.secret_changed_at,
        t.next_refresh_at,
        bool(t.writeback_pending),
        t.last_refresh_at,
        renewable=platform_named(app.platform).renews_kind(t.token_type),
        expiry_unknown=t.expires_at is None and t.expiry_source is None and t.validity_source == BY_ME,
    )
    return Candidate(
        t.id, t.name, t.secret, t.fingerprint, t.source, t.refresh_failures or 0, facts, t.token_type, app
    )


def store_refreshed(session: Session, vault: Vault, owner: str, r: Refreshed, now: float) -> str:
    """Replace the string of token `r.id` if it still has `r.old_fingerprint`.

    Returns "stored", "already" (the new string is there: a spool replayed twice) or "superseded" (the token
    was removed or its string changed meanwhile; the refreshed string is not needed).
    """
    values: dict[str, Any] = dict(
        secret=vault.encrypt(r.token),
        fingerprint=fingerprint(r.token),
        secret_changed_at=r.refreshed_at,
        issued_at=r.refreshed_at,
        last_refresh_at=r.refreshed_at,
        refresh_failures=0,
        refresh_error=None,
        next_refresh_at=None,
        next_check_at=now,
        updated_at=now,
    )
    if r.expires_in:
        values["expires_at"] = r.refreshed_at + r.expires_in
        values["expiry_source"] = r.expiry_source
    if r.writeback:
        values["writeback_pending"] = True  # monitor.sources.job writes it to the application's database
    stmt = update(Token).where(Token.id == r.id, Token.fingerprint == r.old_fingerprint).values(values)
    if session.connection().execute(stmt).rowcount == 1:
        release(session, owner, [r.id])
        record(
            session,
            r.id,
            "refreshed",
            "refresh",
            now,
            fingerprint=values["fingerprint"],
            previous=r.old_fingerprint,
        )
        return "stored"
    current = session.scalar(select(Token.fingerprint).where(Token.id == r.id))
    return "already" if current == fingerprint(r.token) else "superseded"


def record_unmoved(session: Session, before: Mapping[int, float | None], now: float) -> list[str]:
    """After refreshed tokens were inspected: mark those whose expiry did not move (TokenRefreshFailed
    fires on `refresh_error`); their names. `before` maps token id -> expires_at before the refresh."""
    rows = session.execute(select(Token.id, Token.name, Token.expires_at).where(Token.id.in_(list(before))))
    unmoved = [(r.id, r.name) for r in rows if not moved(before[r.id], r.expires_at)]
    for token_id, _ in unmoved:
        session.execute(
            update(Token)
            .where(Token.id == token_id)
            .values(refresh_error=UNMOVED, refresh_failures=Token.refresh_failures + 1, updated_at=now),
            execution_options={"synchronize_session": False},
        )
    return [name for _, name in unmoved]


def store_failure(
    session: Session,
    owner: str,
    c: Candidate,
    result: RefreshResult,
    outcome: Outcome,
    now: float,
    rand: float,
) -> None:
    failures = c.refresh_failures + 1
    at = next_attempt(outcome, failures, result.retry_after, now, rand)
    session.execute(
        update(Token)
        .where(Token.id == c.id, Token.fingerprint == c.fingerprint)
        .values(
            refresh_failures=failures, next_refresh_at=at, refresh_error=error_text(result), updated_at=now
        ),
        execution_options={"synchronize_session": False},
    )
    release(session, owner, [c.id])
