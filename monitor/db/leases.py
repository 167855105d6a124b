"""Leases: how several daemons share work in one database without doing it twice.

A leased row has `lease_owner` and `lease_expires_at`; it is free when it has no lease or the lease ran out
(a crashed daemon's work comes back by itself). Claims first SELECT ... FOR UPDATE SKIP LOCKED the candidate
ids, then `take` UPDATEs only the rows still free: where the SELECT took no row lock (SQLite), another claimer
may have won a row in between, and only the rows this UPDATE took are ours. One implementation serves every
leased table (tokens for checks, refreshes and write-backs; sources for syncs).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Table, and_, or_, update
from sqlalchemy.orm import Session

from monitor.db.chunks import in_chunks

__all__ = ["describe_owner", "free", "held", "owner_of", "release", "renew", "take"]


def free(table: Table, now: float, owner: str | None = None) -> ColumnElement[bool]:
    """Rows nobody holds now (or that `owner` holds already, when given)."""
    condition = or_(table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now)
    return condition if owner is None else or_(condition, table.c.lease_owner == owner)


def held(table: Table, owner: str, ids: Sequence[Any] | None = None) -> ColumnElement[bool]:
    """Rows `owner` holds (among `ids`, when given)."""
    condition = table.c.lease_owner == owner
    return condition if ids is None else and_(condition, table.c.id.in_(list(ids)))


def take(
    session: Session,
    table: Table,
    ids: Sequence[Any],
    owner: str,
    now: float,
    duration: float,
    **values: Any,
) -> int:
    """Lease those of `ids` that are still free (or `owner`'s already) to `owner` until `now + duration`,
    writing `values` to the same rows; the number taken."""
    taken = 0
    for chunk in in_chunks(ids):
        stmt = (
            update(table)
            .where(table.c.id.in_(list(chunk)), free(table, now, owner))
            .values(lease_owner=owner, lease_expires_at=now + duration, **values)
        )
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            stmt, execution_options={"synchronize_session": False}
        )
        taken += result.rowcount or 0
    return taken


def release(
    session: Session, table: Table, owner: str, ids: Sequence[Any] | None = None, **values: Any
) -> int:
    """Drop `owner`'s leases (all, or on `ids`, chunked), writing `values` to the same rows; the number
    released."""
    released = 0
    chunks: list[Sequence[Any] | None] = [None] if ids is None else list(in_chunks(ids))
    for chunk in chunks:
        stmt = update(table).where(held(table, owner, chunk))
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            stmt.values(lease_owner=None, lease_expires_at=None, **values),
            execution_options={"synchronize_session": False},
        )
        released += result.rowcount or 0
    return released


def renew(
    session: Session, table: Table, owner: str, ids: Sequence[Any], until: float, **values: Any
) -> None:
    """Extend `owner`'s leases on `ids` to `until` (work queued behind a slow peer keeps its claim), writing
    `values` to the same rows."""
    for chunk in in_chunks(ids):
        session.execute(
            update(table).where(held(table, owner, chunk)).values(lease_expires_at=until, **values),
            execution_options={"synchronize_session": False},
        )


# --- owners ---------------------------------------------------------------------------------------------
# An owner names the process holding a lease: "<host>:<pid>:<instance>" for a daemon, "check:<host>:<pid>"
# for the `check` command, either followed by ":<purpose>" (check, cb) for work asked for at once.
PURPOSES = {"check": "checking tokens asked for at once", "cb": "checking what a callback queued"}


def owner_of(kind: str | None = None, instance: str | None = None) -> str:
    """This process's owner name: a daemon's (`instance` given) or a command's (`kind`, e.g. "check")."""
    host, pid = socket.gethostname()[:40], os.getpid()
    return f"{host}:{pid}:{instance}" if kind is None else f"{kind}:{host}:{pid}"


def describe_owner(owner: str, here: str | None = None) -> str:
    """Who holds a lease, in words: "a daemon (pid 4242 on web-1)", "`check` (pid 77 on web-1)"; on this
    host (`here`), a holder whose process is gone is said to be gone."""
    parts = owner.split(":")
    command = parts[0] == "check"
    host, pid = (parts[1:3] if command else parts[:2]) + ["?"] * max(0, (3 if command else 2) - len(parts))
    who = f"`check` (pid {pid} on {host})" if command else f"a daemon (pid {pid} on {host})"
    purpose = parts[3] if len(parts) > 3 else ""
    if purpose in PURPOSES:
        who += f", {PURPOSES[purpose]}"
    if host == (here or socket.gethostname()[:40]) and pid.isdigit() and not _alive(int(pid)):
        who += "; that process no longer runs (it ended without releasing)"
    return who


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # it exists, as another user (or the number is not a pid at all: assume the worst)
    return True
