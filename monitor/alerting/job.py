"""The daemon's alerting: evaluate the rules over the stored state, group transitions, deliver them.

Evaluation (monitor.alerting.evaluate) is full when a daemon starts, after a reload and once an hour, and
incremental (the tokens that changed since the previous one) in between. Each steps the alert ladders
(monitor.alerting.rules) and, in the same transaction, stores the new ladder state and one `alert_events`
row per notification-worthy transition. Several daemons may share a PostgreSQL database: evaluation and
grouping each run under a transaction-level advisory lock, so no transition is emitted twice.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from sqlalchemy import delete, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.evaluate import Evaluation, evaluate
from monitor.alerting.outbox import Outbox, build_notifiers
from monitor.alerting.routing import enqueue_pending
from monitor.config.load import AlertsConfig, Config, NotifierConfig
from monitor.config.secret_values import all_secrets
from monitor.db.models import Alert, Notification
from monitor.db.session import prefer_indexes
from monitor.jobs import Job
from monitor.notify.relay import relay_notifiers

__all__ = [
    "FULL_EVERY",
    "AlertSettings",
    "AlertsComponent",
    "Evaluation",
    "LockBusy",
    "evaluate",
    "exclusive",
]

log = logging.getLogger("monitor.alerts")

TICK_WAIT = 5.0

KEEP_HISTORY = 30 * 86400.0  # resolved alerts and finished notifications are kept this long
FULL_EVERY = 3600.0  # a full evaluation at least this often: the safety net under the incremental ones


class LockBusy(Exception):
    """Another daemon held the named lock for the whole wait: skip this tick, the next one retries."""


@contextmanager
def exclusive(sessions: sessionmaker[Session], name: str) -> Iterator[Session]:
    """One transaction that no other daemon runs under the same `name` at the same time.

    PostgreSQL: a transaction-level advisory lock. MariaDB: GET_LOCK, which belongs to one connection, so
    the session is pinned to that connection until the lock is released after the commit. SQLite has a
    single daemon per file (SqliteLock), and the first write takes SQLite's one write lock anyway.
    """
    engine = sessions.kw["bind"]
    if engine.dialect.name in ("mysql", "mariadb"):
        with engine.connect() as conn:
            got = conn.execute(text("SELECT GET_LOCK(:n, 60)"), {"n": f"ttm:{name}"}).scalar()
            conn.commit()
            if got != 1:
                raise LockBusy(name)
            try:
                with Session(bind=conn, expire_on_commit=False) as s:
                    yield s
                    s.commit()
            finally:
                conn.rollback()
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": f"ttm:{name}"})
                conn.commit()
        return
    with sessions() as s, s.begin():
        if engine.dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"ttm:{name}".encode())})
        yield s


# --- the component ---------------------------------------------------------------------------------------


def forward_url(config: Config) -> str | None:
    """[callbacks] forward_url: the outbox then also delivers relayed callbacks (monitor.notify.relay)."""
    return config.callbacks.forward_url if config.callbacks is not None else None


@dataclass(frozen=True)
class AlertSettings:
    """What alerting reads of the configuration: the [alerts] section, the notifiers (and the relay of
    [callbacks] forward_url), the status page's address for links, the sweep interval (evaluation follows
    it) and every secret of the configuration (what notification errors are redacted of)."""

    alerts: AlertsConfig = AlertsConfig()
    notifiers: tuple[NotifierConfig, ...] = ()
    forward_url: str | None = None
    external_url: str = ""
    sweep_interval: float = 60.0
    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> AlertSettings:
        return cls(
            alerts=config.alerts,
            notifiers=config.notifiers,
            forward_url=forward_url(config),
            external_url=config.http.external_url,
            sweep_interval=config.schedule.sweep_interval,
            secrets=tuple(all_secrets(config)),
        )


class NotificationCounter(Protocol):
    """Where delivery outcomes are counted (monitor.metrics.Events)."""

    def notification(self, notifier: str, outcome: str) -> None: ...


class AlertsComponent:
    """Jobs: `alerts` (evaluate, then group), `deliver` (the outbox) and a daily prune of old history."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: AlertSettings,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        events: NotificationCounter | None = None,
        notify_stream: Any = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.sessions, self.settings, self.clock = sessions, settings, clock
        self.notify_stream = notify_stream
        on_outcome = events.notification if events is not None else None
        self.outbox = Outbox(
            sessions,
            build_notifiers(settings.notifiers, notify_stream) | relay_notifiers(settings.forward_url),
            owner=owner,
            ttl=settings.alerts.notification_ttl,
            clock=clock,
            on_outcome=on_outcome,
            secrets=list(settings.secrets),
            registry=registry,
        )
        self._last_eval = float("-inf")
        self._since: float | None = None  # the `now` of the last evaluation; None: the next one is full
        self._last_full = float("-inf")
        self._seen: dict[int, float] = {}  # what the last evaluation looked at (see evaluate.REMEMBER)

    def eval_interval(self) -> float:
        # Often enough that evaluation lag + the 1 s grouping tick stay within 5 s of the latency budget
        # (sweep_interval + group_wait + 5 s); at 100,000 tokens with 1,000 firing one pass takes ~0.35 s.
        return max(1.0, min(self.settings.sweep_interval, 3.0))

    def jobs(self) -> list[Job]:
        tick = max(0.5, min(1.0, self.settings.alerts.group_wait))
        return [
            Job("alerts", self.tick, tick),
            Job("deliver", self.deliver_round, 2.0, first_delay=1.0),
            Job("alerts-prune", self.prune, 86400.0, first_delay=300.0),
        ]

    def tick(self) -> None:
        """Evaluate when due, then group; deliver at once when grouping queued something."""
        now = self.clock()
        if now - self._last_eval >= self.eval_interval():
            self._last_eval = now
            full = self._since is None or now - self._last_full >= FULL_EVERY
            try:
                with exclusive(self.sessions, "alerts") as s:
                    prefer_indexes(s)  # its reads follow the changes: through indexes, never a whole table
                    result = evaluate(s, self.settings.alerts, now, None if full else self._since, self._seen)
            except LockBusy:
                log.info("alerts: another daemon is evaluating; skipping this tick")
                return
            # Only once committed: a failed evaluation leaves `since` where it was, so nothing is skipped.
            self._since, self._seen = now, result.seen
            if full:
                self._last_full = now
            log.debug(
                "alerts: %s evaluation read %d token(s)", "full" if full else "incremental", result.tokens
            )
            if result.events:
                log.info("alerts: %d transition(s) to notify (%d firing)", result.events, result.desired)
        if self.group(now):
            # New messages go out at once; a slow channel holds this tick at most TICK_WAIT seconds (the
            # round goes on in the background), so the next evaluation is never stuck behind it.
            self.deliver(wait=TICK_WAIT)

    def group(self, now: float) -> int:
        settings = self.settings
        try:
            with exclusive(self.sessions, "group") as s:
                prefer_indexes(s)  # the oldest event through the created_at index, not every waiting event
                return enqueue_pending(
                    s, settings.notifiers, now, settings.alerts.group_wait, settings.external_url
                )
        except LockBusy:
            return 0  # another daemon is grouping these very events

    def deliver_round(self) -> None:
        """The scheduled delivery: like a tick's, it never waits long for a slow channel."""
        self.deliver(wait=TICK_WAIT)

    def deliver(self, wait: bool | float = True) -> None:
        stats = self.outbox.deliver_due(wait=wait)
        if stats.outcomes:
            log.info("notifications: %s", ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())))

    def prune(self) -> None:
        cutoff = self.clock() - KEEP_HISTORY
        with exclusive(self.sessions, "prune") as s:
            s.execute(delete(Alert).where(Alert.status == "resolved", Alert.resolved_at < cutoff))
            s.execute(
                delete(Notification).where(Notification.status != "pending", Notification.created_at < cutoff)
            )

    def reload(self, settings: AlertSettings) -> None:
        """New thresholds, notifiers and TTL apply from the next tick; the next evaluation is a full one."""
        self.settings = settings
        self._since = None  # thresholds may have changed: the next evaluation looks at every token again
        self.outbox.ttl = settings.alerts.notification_ttl
        relay = relay_notifiers(settings.forward_url)
        notifiers = build_notifiers(settings.notifiers, self.notify_stream) | relay
        self.outbox.replace_notifiers(notifiers, list(settings.secrets))

    def stop(self) -> None:
        """Nothing to stop claiming: a tick is one short transaction, delivery ends with `close`."""

    def close(self) -> None:
        self.outbox.close()
