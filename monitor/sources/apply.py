"""Applying a source's validated rows to the monitor's registry: the diff (pure) and its bulk writes.

The diff compares fingerprints, never decrypted strings, so only new and changed strings are encrypted.
Tokens of other sources and tokens added by hand are never touched: a name collision with one is an error.
A token whose refreshed string still waits to be written back keeps that string (it is newer than the
source's) until the write-back succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, fingerprint
from monitor.db.chunks import in_chunks
from monitor.db.models import App, Snapshot, Token
from monitor.db.stats import after_bulk_write
from monitor.registry import NewToken, delete_tokens, record_many, token_row
from monitor.sources.read import SourceError, SourceRow

log = logging.getLogger("monitor.sources")

T = cast(Table, Token.__table__)


@dataclass(frozen=True)
class SyncReport:
    """What one sync changed, by token name (never a token string)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    unchanged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "retired": self.retired,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class Existing:
    """What the registry holds for one of the source's tokens (no secret)."""

    id: int
    name: str
    fingerprint: str
    labels: Mapping[str, str]
    app_id: int
    writeback_pending: bool


@dataclass
class Plan:
    new: list[SourceRow] = field(default_factory=list)
    strings: list[tuple[Existing, SourceRow]] = field(default_factory=list)  # new string (labels/app too)
    details: list[tuple[Existing, SourceRow]] = field(default_factory=list)  # labels or app only
    retired: list[Existing] = field(default_factory=list)
    unchanged: int = 0

    def report(self) -> SyncReport:
        return SyncReport(
            added=sorted(r.name for r in self.new),
            changed=sorted([r.name for _, r in self.strings] + [r.name for _, r in self.details]),
            retired=sorted(e.name for e in self.retired),
            unchanged=self.unchanged,
        )


def plan_sync(
    rows: Sequence[SourceRow], existing: Mapping[str, Existing], app_ids: Mapping[str, int]
) -> Plan:
    """The diff between a source's rows and the registry's tokens of that source (pure)."""
    plan = Plan()
    for row in rows:
        have = existing.get(row.name)
        if have is None:
            plan.new.append(row)
            continue
        new_string = fingerprint(row.token) != have.fingerprint and not have.writeback_pending
        if new_string:
            plan.strings.append((have, row))
        elif dict(have.labels) != dict(row.labels) or have.app_id != app_ids[row.app]:
            plan.details.append((have, row))
        else:
            plan.unchanged += 1
    names = {row.name for row in rows}
    plan.retired = [e for name, e in existing.items() if name not in names]
    return plan


def apply_sync(
    session: Session, vault: Vault, source: str, rows: Sequence[SourceRow], now: float
) -> SyncReport:
    """Bring the registry's tokens of `source` in line with `rows`, inside the caller's transaction."""
    app_ids = dict(session.execute(select(App.name, App.id)).all())
    for row in rows:
        if row.app not in app_ids:
            raise SourceError(
                source, f"row {row.name!r}: no app named {row.app!r} is registered (see `apps list`)"
            )
    existing = load_existing(session, source)
    _refuse_collisions(session, source, [r.name for r in rows if r.name not in existing])
    plan = plan_sync(rows, existing, app_ids)
    stale = _superseded(session, plan.strings)
    plan.strings = [pair for pair in plan.strings if pair not in stale]
    for have, row in stale:  # the string stays; labels and app still follow the source
        if have.labels != dict(row.labels) or have.app_id != app_ids[row.app]:
            plan.details.append((have, row))
        else:
            plan.unchanged += 1
    _insert(session, vault, source, plan.new, app_ids, now)
    _update_strings(session, vault, plan.strings, app_ids, now)
    _update_details(session, plan.details, app_ids, now)
    delete_tokens(session, [e.id for e in plan.retired], now=now, reason="retired by source")
    return plan.report()


def load_existing(session: Session, source: str) -> dict[str, Existing]:
    stmt = select(T.c.id, T.c.name, T.c.fingerprint, T.c.labels, T.c.app_id, T.c.writeback_pending).where(
        T.c.source == source
    )
    return {
        r.name: Existing(r.id, r.name, r.fingerprint, r.labels or {}, r.app_id, bool(r.writeback_pending))
        for r in session.execute(stmt)
    }


def _refuse_collisions(session: Session, source: str, names: Sequence[str]) -> None:
    """A new name already used by a hand-added token or another source's token is an error, not a takeover."""
    others = or_(T.c.source.is_(None), T.c.source != source)
    for part in in_chunks(names):
        chunk = list(part)
        hit = session.execute(
            select(T.c.name, T.c.source).where(T.c.name.in_(chunk), others).limit(1)
        ).first()
        if hit is not None:
            owner = "by hand" if hit.source is None else f"by source {hit.source!r}"
            raise SourceError(
                source, f"token name {hit.name!r} is already registered {owner}: rename one of them"
            )


def _insert(
    session: Session,
    vault: Vault,
    source: str,
    rows: Sequence[SourceRow],
    app_ids: Mapping[str, int],
    now: float,
) -> None:
    for chunk in in_chunks(rows):
        values = [
            token_row(vault, NewToken(r.name, r.app, r.token, dict(r.labels)), app_ids[r.app], now, source)
            for r in chunk
        ]
        session.execute(insert(T), values)
    after_bulk_write(session, T.name, len(rows))


def _superseded(
    session: Session, pairs: list[tuple[Existing, SourceRow]]
) -> list[tuple[Existing, SourceRow]]:
    """The pairs whose source string is one the token had before: keep the string the monitor refreshed.

    A source without `on_refresh` goes on offering the string a refresh replaced; the token's snapshot
    history knows it. Only a string the token never had is news from the application."""
    seen: set[tuple[int, str]] = set()
    for chunk in in_chunks(pairs):
        stmt = select(Snapshot.token_id, Snapshot.fingerprint).where(
            Snapshot.token_id.in_([have.id for have, _ in chunk]),
            Snapshot.fingerprint.in_([fingerprint(row.token) for _, row in chunk]),
        )
        seen.update((r.token_id, r.fingerprint) for r in session.execute(stmt))
    stale = [(have, row) for have, row in pairs if (have.id, fingerprint(row.token)) in seen]
    for have, _ in stale:
        log.info(
            "source offers token %s's string from before its refresh: the refreshed one stays", have.name
        )
    return stale


def _update_strings(
    session: Session,
    vault: Vault,
    pairs: Sequence[tuple[Existing, SourceRow]],
    app_ids: Mapping[str, int],
    now: float,
) -> None:
    """A new string is a new observation, not an alert: keep the last one, check the new string at once."""
    # The WHERE on the old fingerprint and writeback_pending keeps a string refreshed meanwhile.
    stmt = (
        update(T)
        .where(
            T.c.id == bindparam("b_id"),
            T.c.fingerprint == bindparam("b_old"),
            T.c.writeback_pending.is_(False),
        )
        .values(
            secret=bindparam("b_secret"),
            fingerprint=bindparam("b_fp"),
            labels=bindparam("b_labels", type_=T.c.labels.type),
            app_id=bindparam("b_app"),
            secret_changed_at=now,
            updated_at=now,
            next_check_at=now,
            refresh_failures=0,
            refresh_error=None,
            next_refresh_at=None,
            writeback_error=None,
        )
    )
    for chunk in in_chunks(pairs):
        params = [
            {
                "b_id": have.id,
                "b_old": have.fingerprint,
                "b_secret": vault.encrypt(row.token),
                "b_fp": fingerprint(row.token),
                "b_labels": dict(row.labels),
                "b_app": app_ids[row.app],
            }
            for have, row in chunk
        ]
        session.execute(stmt, params)
        # The token's change history shows the replacement (old and new fingerprint), as for any writer:
        # for the rows the guarded UPDATE changed (a string refreshed meanwhile stays, and is no change).
        ids = [have.id for have, _ in chunk]
        now_held = dict(session.execute(select(T.c.id, T.c.fingerprint).where(T.c.id.in_(ids))).all())
        done: list[tuple[int, str | None, str | None, str | None]] = [
            (have.id, fingerprint(row.token), have.fingerprint, None)
            for have, row in chunk
            if now_held.get(have.id) == fingerprint(row.token)
        ]
        record_many(session, done, "replaced", "source", now)


def _update_details(
    session: Session, pairs: Sequence[tuple[Existing, SourceRow]], app_ids: Mapping[str, int], now: float
) -> None:
    stmt = (
        update(T)
        .where(T.c.id == bindparam("b_id"))
        .values(
            labels=bindparam("b_labels", type_=T.c.labels.type), app_id=bindparam("b_app"), updated_at=now
        )
    )
    for chunk in in_chunks(pairs):
        params = [
            {"b_id": have.id, "b_labels": dict(row.labels), "b_app": app_ids[row.app]} for have, row in chunk
        ]
        session.execute(stmt, params)
    moved = [have.id for have, row in pairs if have.app_id != app_ids[row.app]]
    for ids in in_chunks(moved):  # another app's inspector: check again at once
        session.execute(update(T).where(T.c.id.in_(ids)).values(next_check_at=now))
