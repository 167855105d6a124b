"""A token's change history besides its checks: string replaced or refreshed, labels changed, muted or
unmuted (table `token_events`). `tokens history` and the token page show it between the snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.db.chunks import in_chunks
from monitor.db.models import TokenEvent

__all__ = ["Change", "record", "record_many", "recent"]

KINDS = ("replaced", "refreshed", "labels", "muted", "unmuted")
VIAS = ("cli", "api", "import", "source", "refresh")


@dataclass(frozen=True)
class Change:
    """One row of `token_events`, as the history shows it."""

    at: float
    kind: str
    via: str
    fingerprint: str | None
    previous_fingerprint: str | None
    detail: str | None

    def describe(self) -> str:
        """ "string replaced (fingerprint 1a2b... -> 3c4d..., via api)" and the like."""
        if self.kind in ("replaced", "refreshed"):
            what = f"string {self.kind}: {self.previous_fingerprint or '?'} -> {self.fingerprint or '?'}"
        else:
            what = self.kind + (f": {self.detail}" if self.detail else "")
        return f"{what} (via {self.via})"


def record(
    session: Session,
    token_id: int,
    kind: str,
    via: str,
    now: float,
    *,
    fingerprint: str | None = None,
    previous: str | None = None,
    detail: str | None = None,
) -> None:
    """Add one change to a token's history, in the caller's transaction."""
    record_many(session, [(token_id, fingerprint, previous, detail)], kind, via, now)


def record_many(
    session: Session,
    rows: Sequence[tuple[int, str | None, str | None, str | None]],
    kind: str,
    via: str,
    now: float,
) -> None:
    """The same kind of change for many tokens: (token id, new fingerprint, old fingerprint, detail) each."""
    if kind not in KINDS or via not in VIAS:
        raise ValueError(f"unknown change {kind!r} via {via!r}")
    values = [
        {
            "token_id": token_id,
            "at": now,
            "kind": kind,
            "via": via,
            "fingerprint": new,
            "previous_fingerprint": old,
            "detail": (detail or None) and detail[:300],
        }
        for token_id, new, old, detail in rows
    ]
    for chunk in in_chunks(values):
        session.execute(insert(TokenEvent), list(chunk))


def recent(session: Session, token_id: int, limit: int = 100) -> list[Change]:
    """The newest `limit` changes of a token, newest first."""
    stmt = (
        select(
            TokenEvent.at,
            TokenEvent.kind,
            TokenEvent.via,
            TokenEvent.fingerprint,
            TokenEvent.previous_fingerprint,
            TokenEvent.detail,
        )
        .where(TokenEvent.token_id == token_id)
        .order_by(TokenEvent.at.desc(), TokenEvent.id.desc())
        .limit(limit)
    )
    return [Change(*row) for row in session.execute(stmt)]
