"""The outbox's rows under lease: claim a notifier's due messages, settle or postpone each one after its
attempt, and drop what stayed undelivered for the TTL.

Claims SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL/MariaDB) and lease the rows to one daemon until
`now + lease`, so with several daemons each message is attempted by one of them; every write after the claim
holds only while the row is still that daemon's (`lease_owner`), and each one gives the lease back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import Notification
from monitor.db.session import transaction

__all__ = ["Claimed", "claim_due", "drop_expired", "postpone", "settle"]

ERROR_CHARS = 500  # last_error keeps this much of a (redacted) failure


@dataclass(frozen=True)
class Claimed:
    """A notification leased for one delivery round."""

    id: int
    notifier: str
    payload: str
    created_at: float
    attempts: int


def _free(now: float) -> ColumnElement[bool]:
    return or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now)


def claim_due(
    sessions: sessionmaker[Session], notifier: str, now: float, *, owner: str, lease: float, batch: int
) -> list[Claimed]:
    """Lease to `owner` up to `batch` of `notifier`'s pending messages that are due and free, oldest due
    first."""
    free = _free(now)
    with transaction(sessions) as s:
        rows = s.execute(
            select(
                Notification.id,
                Notification.notifier,
                Notification.payload,
                Notification.created_at,
                Notification.attempts,
            )
            .where(
                Notification.status == "pending",
                Notification.next_attempt_at <= now,
                free,
                Notification.notifier == notifier,
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if rows:
            s.execute(
                update(Notification)
                .where(Notification.id.in_([r.id for r in rows]), free)
                .values(lease_owner=owner, lease_expires_at=now + lease)
            )
    return [Claimed(r.id, r.notifier, r.payload, r.created_at, r.attempts or 0) for r in rows]


def drop_expired(sessions: sessionmaker[Session], now: float, ttl: float) -> list[tuple[int, str]]:
    """Mark "dropped" (up to 1000 per call) the free pending messages created at least `ttl` seconds ago,
    whichever notifier they are for; their (id, notifier)."""
    with transaction(sessions) as s:
        rows = s.execute(
            select(Notification.id, Notification.notifier)
            .where(Notification.status == "pending", Notification.created_at <= now - ttl, _free(now))
            .limit(1000)
            .with_for_update(skip_locked=True)
        ).all()
        if rows:
            s.execute(
                update(Notification)
                .where(Notification.id.in_([r.id for r in rows]))
                .values(status="dropped", lease_owner=None, lease_expires_at=None)
            )
    return [(r.id, r.notifier) for r in rows]


def settle(
    sessions: sessionmaker[Session],
    row: Claimed,
    *,
    owner: str,
    status: str,
    now: float,
    error: str | None = None,
) -> None:
    """End `row` as "sent", "failed" or "dropped" (a drop spends no attempt), if `owner` still holds it."""
    values: dict[str, Any] = {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": row.attempts + (status != "dropped"),
    }
    if status == "sent":
        values["sent_at"] = now
    if error is not None:
        values["last_error"] = error[:ERROR_CHARS]
    with transaction(sessions) as s:
        s.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.lease_owner == owner)
            .values(**values)
        )


def postpone(
    sessions: sessionmaker[Session],
    row: Claimed | None,
    rest: list[Claimed],
    *,
    owner: str,
    at: float,
    error: str,
) -> None:
    """Make `row` (one failed attempt more) and `rest` (not attempted, no attempt spent) due again at `at`,
    those of them `owner` still holds, and give their leases back."""
    mine = Notification.lease_owner == owner
    with transaction(sessions) as s:
        if row is not None:
            s.execute(
                update(Notification)
                .where(Notification.id == row.id, mine)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=at,
                    last_error=error[:ERROR_CHARS],
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        if rest:
            s.execute(
                update(Notification)
                .where(Notification.id.in_([r.id for r in rest]), mine)
                .values(next_attempt_at=at, lease_owner=None, lease_expires_at=None)
            )
