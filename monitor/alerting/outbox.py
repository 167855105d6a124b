"""The durable outbox: group pending alert events into one message per notifier, then deliver with retries.

Every message is a `notifications` row before its first attempt. Delivery claims due rows with a lease
(SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL/MariaDB), so with several daemons each message is sent by
one of them; a transient failure backs off exponentially with jitter (at least the server's Retry-After), a
permanent one fails the row at once, and a row older than `notification_ttl` is dropped and counted.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor import retry
from monitor.alerting.channels import counted_as, due_channels
from monitor.alerting.durations import DeliveryDurations
from monitor.alerting.routing import enqueue_pending, group_key, route
from monitor.db.models import Notification
from monitor.db.session import transaction
from monitor.notify import (
    Message,
    Notifier,
    NotifierSettings,
    NotifyError,
    build_notifier,
)
from monitor.redact import Redactor

log = logging.getLogger("monitor.outbox")

__all__ = ["BACKOFF_CAP", "BACKOFF_FIRST", "DeliveryStats", "Outbox", "backoff", "build_notifiers"]
__all__ += ["enqueue_pending", "group_key", "route"]  # grouping lives in routing.py

BACKOFF_FIRST, BACKOFF_CAP, BACKOFF_JITTER = 10.0, 600.0, 0.2


# --- delivery ------------------------------------------------------------------------------------------


def backoff(attempts: int, retry_after: float | None, rand: float) -> float:
    """Seconds until the next attempt after `attempts` failures: 10 s doubling to 10 min, shortened by up to
    20 % (jitter, `rand` in [0, 1)), and never sooner than the server's `retry_after`."""
    delay = retry.backoff(attempts, BACKOFF_FIRST, BACKOFF_CAP, jitter=BACKOFF_JITTER, rand=rand)
    return max(delay, retry_after or 0.0)


def build_notifiers(configs: Iterable[NotifierSettings], stream: Any = None) -> dict[str, Notifier]:
    """One notifier per `[[notifiers]]` table; the console one writes to `stream` when given (the demo)."""
    from monitor.notify.console import ConsoleNotifier

    out: dict[str, Notifier] = {}
    for cfg in configs:
        out[cfg.name] = (
            ConsoleNotifier(cfg, stream=stream) if cfg.type == "console" and stream else build_notifier(cfg)
        )
    return out


@dataclass
class DeliveryStats:
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # sent|retry|failed|dropped
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, outcome: str) -> None:
        with self._lock:  # channels deliver on threads of their own
            self.outcomes[outcome] += 1


@dataclass(frozen=True)
class _Claimed:
    id: int
    notifier: str
    payload: str
    created_at: float
    attempts: int


MAX_CHANNELS = 32  # delivery threads: one per notifier that has due messages, at most this many at once


class Outbox:
    """Delivers due notifications, each notifier on a thread of its own: a slow or dead channel delays only
    its own messages, never another channel's or the caller (a channel still busy with its last round is
    skipped, not waited for). Thread-safe: claiming takes turns; sending runs in parallel."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifiers: Mapping[str, Notifier],
        *,
        owner: str,
        ttl: float,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_outcome: Callable[[str, str], None] | None = None,
        batch: int = 20,
        lease: float = 300.0,
        secrets: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.sessions, self.owner, self.ttl = sessions, owner, ttl
        self.durations = DeliveryDurations(registry)
        self.durations.known(notifiers)
        # Every configured secret, not just the failing notifier's: one receiver may echo another's.
        self.redact = Redactor(secrets)
        self.notifiers: dict[str, Notifier] = dict(notifiers)
        self.clock, self.rand = clock, rand
        self.on_outcome = on_outcome or (lambda notifier, outcome: None)
        self.batch, self.lease = batch, lease
        self._turn = threading.Lock()
        self._busy: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=MAX_CHANNELS, thread_name_prefix="notify")

    def replace_notifiers(self, notifiers: Mapping[str, Notifier], secrets: Iterable[str] = ()) -> None:
        """Swap in notifiers built from a reloaded config (and its secrets); the old ones are closed."""
        self.redact = Redactor(secrets)
        self.durations.known(notifiers)
        with self._turn:
            old, self.notifiers = self.notifiers, dict(notifiers)
            for name, notifier in old.items():
                running = self._busy.get(name)
                if running is not None and not running.done():  # close it once its round ends
                    running.add_done_callback(_closer(notifier))
                else:
                    notifier.close()

    def close(self) -> None:
        """Wait for rounds in flight (each attempt is bounded by its notifier's deadline), then close."""
        self._pool.shutdown(wait=True)
        with self._turn:
            for n in self.notifiers.values():
                n.close()

    def deliver_due(self, *, wait: bool | float = True) -> DeliveryStats:
        """Start one round for every idle notifier with due messages (one attempt each; a notifier that just
        failed transiently is not tried again in this round: its other messages wait with it). `wait`:
        True waits for the rounds started here, a number waits at most that many seconds, False not at
        all; never for a channel still busy from an earlier call."""
        stats = DeliveryStats()
        started: list[Future[None]] = []
        with self._turn:  # claiming only: sends happen outside, on the channels' own threads
            now = self.clock()
            self._drop_expired(now, stats)
            for name, notifier in due_channels(self.sessions, self.notifiers, now):
                running = self._busy.get(name)
                if running is not None and not running.done():
                    continue  # this channel is still on its last round: it alone waits
                rows = self._claim(now, name)
                if rows:
                    future = self._pool.submit(self._deliver, name, notifier, rows, stats, now)
                    self._busy[name] = future
                    started.append(future)
        if wait is not False and started:
            futures.wait(started, timeout=None if wait is True else float(wait))
        return stats

    def _drop_expired(self, now: float, stats: DeliveryStats) -> None:
        """Drop and count what stayed undelivered for the TTL, whoever's notifier it was for (a notifier
        removed from every daemon's config ends here too, a day later, instead of on the first daemon that
        has not been reloaded yet)."""
        free = or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now)
        with transaction(self.sessions) as s:
            rows = s.execute(
                select(Notification.id, Notification.notifier)
                .where(Notification.status == "pending", Notification.created_at <= now - self.ttl, free)
                .limit(1000)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                s.execute(
                    update(Notification)
                    .where(Notification.id.in_([r.id for r in rows]))
                    .values(status="dropped", lease_owner=None, lease_expires_at=None)
                )
        for r in rows:
            log.warning("dropping notification %d for %s: not delivered within the TTL", r.id, r.notifier)
            stats.add("dropped")
            self.on_outcome(counted_as(self.notifiers, r.notifier), "dropped")

    def _claim(self, now: float, notifier: str) -> list[_Claimed]:
        free = or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now)
        with transaction(self.sessions) as s:
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
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                s.execute(
                    update(Notification)
                    .where(Notification.id.in_([r.id for r in rows]), free)
                    .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                )
        return [_Claimed(r.id, r.notifier, r.payload, r.created_at, r.attempts or 0) for r in rows]

    def _deliver(
        self, name: str, notifier: Notifier, rows: list[_Claimed], stats: DeliveryStats, claimed_at: float
    ) -> None:
        for i, row in enumerate(rows):
            now = self.clock()
            if now - claimed_at > self.lease / 2:
                # Slow sends ate half the lease: hand the rest back before another daemon may claim and send
                # them too. Not an attempt; they are due at once.
                self._retry(None, rows[i:], now, "", stats)
                return
            if now - row.created_at >= self.ttl:
                log.warning("dropping notification %d for %s: it is older than the TTL", row.id, name)
                self._finish(row, status="dropped", outcome="dropped", stats=stats, now=now)
                continue
            try:
                with self.durations.attempt(counted_as(self.notifiers, row.notifier)):
                    notifier.send(Message.from_json(row.payload))
            except NotifyError as exc:
                error = self.redact(exc.message)
                if exc.permanent:
                    log.error("notification %d to %s failed permanently: %s", row.id, name, error)
                    self._finish(row, status="failed", outcome="failed", stats=stats, now=now, error=error)
                    continue
                # Counted from the answer (Retry-After means "after this response"), not from the request: a
                # receiver that was slow to say 429 is not asked again early. Never beyond the TTL: a huge
                # Retry-After must not keep a message pending and uncounted.
                answered = self.clock()
                at = min(
                    answered + backoff(row.attempts + 1, exc.retry_after, self.rand()),
                    row.created_at + self.ttl,
                )
                log.warning(
                    "notification %d to %s failed (attempt %d), retrying at +%.0f s: %s",
                    row.id,
                    name,
                    row.attempts + 1,
                    at - answered,
                    error,
                )
                self._retry(row, rows[i + 1 :], at, error, stats)
                return
            except Exception as exc:  # a notifier bug must not stall its queue: fail this one, keep going
                error = f"unexpected {type(exc).__name__} in the {name} notifier"
                log.error("notification %d: %s", row.id, error)
                self._finish(row, status="failed", outcome="failed", stats=stats, now=now, error=error)
                continue
            self._finish(row, status="sent", outcome="sent", stats=stats, now=self.clock())

    def _finish(
        self,
        row: _Claimed,
        *,
        status: str,
        outcome: str,
        stats: DeliveryStats,
        now: float,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "lease_owner": None,
            "lease_expires_at": None,
            "attempts": row.attempts + (status != "dropped"),
        }
        if status == "sent":
            values["sent_at"] = now
        if error is not None:
            values["last_error"] = error[:500]
        with transaction(self.sessions) as s:
            s.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.lease_owner == self.owner)
                .values(**values)
            )
        stats.add(outcome)
        self.on_outcome(counted_as(self.notifiers, row.notifier), outcome)

    def _retry(
        self, row: _Claimed | None, rest: list[_Claimed], at: float, error: str, stats: DeliveryStats
    ) -> None:
        mine = Notification.lease_owner == self.owner
        with transaction(self.sessions) as s:
            if row is not None:
                s.execute(
                    update(Notification)
                    .where(Notification.id == row.id, mine)
                    .values(
                        attempts=row.attempts + 1,
                        next_attempt_at=at,
                        last_error=error[:500],
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                )
            if rest:  # not attempted: they wait with the failed one, without spending an attempt
                s.execute(
                    update(Notification)
                    .where(Notification.id.in_([r.id for r in rest]), mine)
                    .values(next_attempt_at=at, lease_owner=None, lease_expires_at=None)
                )
        if row is not None:
            stats.add("retry")


def _closer(notifier: Notifier) -> Callable[[Future[None]], None]:
    def close(_done: Future[None]) -> None:
        notifier.close()

    return close
