"""The daemon's alerting: evaluate the rules over the stored state, group transitions, deliver them.

Evaluation reads only tokens in or near trouble plus every firing alert (never the whole fleet row by row),
steps each alert's ladder (monitor.alerting.rules) and, in the same transaction, stores the new ladder
state and one `alert_events` row per notification-worthy transition. Several daemons may share a
PostgreSQL database: evaluation and grouping each run under a transaction-level advisory lock, so no
transition is emitted twice.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, delete, insert, select, text, union
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.outbox import CHUNK, Outbox, build_notifiers, enqueue_pending
from monitor.alerting.rules import (
    AlertState,
    Desired,
    TokenFacts,
    alert_key,
    app_alerts,
    source_alerts,
    step,
    token_alerts,
)
from monitor.config.load import AlertsConfig, Config
from monitor.db.models import Alert, AlertEventRow, App, Notification, Source, Token
from monitor.jobs import Job
from monitor.notify.relay import relay_notifiers

log = logging.getLogger("monitor.alerts")

TICK_WAIT = 5.0

KEEP_HISTORY = 30 * 86400.0  # resolved alerts and finished notifications are kept this long


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


# --- evaluation ------------------------------------------------------------------------------------------

_FACT_COLUMNS = (
    Token.id,
    Token.name,
    App.name.label("app"),
    Token.labels,
    Token.is_valid,
    Token.last_result,
    Token.expires_at,
    Token.data_access_expires_at,
    Token.scopes,
    Token.expected_scopes,
    Token.invalid_reason,
    Token.failing_since,
    Token.last_error,
    Token.refresh_error,
)


def trouble(cfg: AlertsConfig, now: float) -> list[ColumnElement[bool]]:
    """SQL conditions, one per kind of trouble, selecting every token a rule could fire for (a superset:
    the rules decide). Each is a range or an equality on one indexed column."""
    return [
        Token.is_valid.is_(False),
        Token.failing_since.is_not(None),
        Token.refresh_error.is_not(None),
        Token.expires_at <= now + max(cfg.expiry.warning, cfg.expiry.critical),
        Token.data_access_expires_at <= now + max(cfg.data_access.warning, cfg.data_access.critical),
        Token.scopes_lost.is_(True),
    ]


def trouble_ids(cfg: AlertsConfig, now: float) -> CompoundSelect:
    """The ids of the tokens in `trouble`, as a UNION of one indexed lookup per condition.

    One OR over the conditions is read through every index by PostgreSQL when its statistics are fresh,
    but as "every valid token" when they are stale, and as a whole-table scan by SQLite; the union reads
    the tokens in trouble and nothing else on both, whatever the statistics say.
    """
    return union(*(select(Token.id).where(condition) for condition in trouble(cfg, now)))


def desired_alerts(session: Session, cfg: AlertsConfig, now: float) -> dict[str, Desired]:
    """Every alert that should be firing now, by key."""
    out: dict[str, Desired] = {}
    names = {f.name for f in fields(TokenFacts)}
    for row in session.execute(
        select(*_FACT_COLUMNS).join(App, App.id == Token.app_id).where(Token.id.in_(trouble_ids(cfg, now)))
    ):
        facts = TokenFacts(**{k: v for k, v in row._mapping.items() if k in names})
        out.update((d.key, d) for d in token_alerts(facts, cfg, now))
    for app, reason in session.execute(
        select(App.name, App.inspector_reason).where(App.inspector_state == "invalid")
    ):
        out.update((d.key, d) for d in app_alerts(app, reason))
    for name, error in session.execute(
        select(Source.name, Source.last_error).where(Source.last_error.is_not(None))
    ):
        out.update((d.key, d) for d in source_alerts(name, error))
    return out


def to_state(row: Alert) -> AlertState:
    return AlertState(
        key=row.key,
        alertname=row.alertname,
        subject=row.subject,
        status=row.status,
        severity=row.severity,
        labels=dict(row.labels or {}),
        annotations=dict(row.annotations or {}),
        fingerprint=row.fingerprint,
        at=row.at,
        started_at=row.started_at,
        last_notified_at=row.last_notified_at,
        notified_severity=row.notified_severity,
        resolved_at=row.resolved_at,
        token_id=row.token_id,
    )


def _store(session: Session, row: Alert | None, state: AlertState, now: float) -> None:
    values = {f.name: getattr(state, f.name) for f in fields(AlertState)}
    values["labels"], values["annotations"] = dict(state.labels), dict(state.annotations)
    if row is None:
        session.add(Alert(**values, updated_at=now))
        return
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now


@dataclass
class Evaluation:
    desired: int = 0
    changed: int = 0
    events: int = 0


def evaluate(session: Session, cfg: AlertsConfig, now: float) -> Evaluation:
    """Step every relevant alert to `now` inside the caller's (exclusive) transaction."""
    desired = desired_alerts(session, cfg, now)
    rows = {a.key: a for a in session.scalars(select(Alert).where(Alert.status == "firing"))}
    missing = [k for k in desired if k not in rows]
    for i in range(0, len(missing), CHUNK):
        rows.update(
            (a.key, a) for a in session.scalars(select(Alert).where(Alert.key.in_(missing[i : i + CHUNK])))
        )
    result, events = Evaluation(desired=len(desired)), []
    # An expiry alert ends without a message when its token turned invalid (it expired, or was revoked): a
    # "no longer close to expiry" next to TokenInvalid would read as an all-clear.
    superseded = {
        alert_key(n, d.subject)
        for d in desired.values()
        if d.alertname == "TokenInvalid"
        for n in ("TokenExpiring", "TokenDataAccessExpiring")
    }
    for key in rows.keys() | desired.keys():
        row = rows.get(key)
        stored = to_state(row) if row is not None else None
        new, emitted = step(stored, desired.get(key), cfg.repeat_interval, now)
        if new is not None and new != stored:
            _store(session, row, new, now)
            result.changed += 1
        if key in superseded:
            emitted = tuple(e for e in emitted if e.status != "resolved")
        events += [{"created_at": now, "payload": json.dumps(e.to_dict(), sort_keys=True)} for e in emitted]
    if events:
        session.execute(insert(AlertEventRow), events)
    result.events = len(events)
    return result


# --- the component ---------------------------------------------------------------------------------------


def forward_url(config: Config) -> str | None:
    """[callbacks] forward_url: the outbox then also delivers relayed callbacks (monitor.notify.relay)."""
    return config.callbacks.forward_url if config.callbacks is not None else None


class AlertsComponent:
    """Jobs: `alerts` (evaluate, then group), `deliver` (the outbox) and a daily prune of old history."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: Config,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        events: Any = None,
        notify_stream: Any = None,
    ) -> None:
        self.sessions, self.config, self.clock = sessions, config, clock
        self.notify_stream = notify_stream
        on_outcome = events.notification if events is not None else None
        self.outbox = Outbox(
            sessions,
            build_notifiers(config.notifiers, notify_stream) | relay_notifiers(forward_url(config)),
            owner=owner,
            ttl=config.alerts.notification_ttl,
            clock=clock,
            on_outcome=on_outcome,
        )
        self._last_eval = float("-inf")

    def eval_interval(self) -> float:
        # Often enough that evaluation lag + the 1 s grouping tick stay within 5 s of the latency budget
        # (sweep_interval + group_wait + 5 s); at 100,000 tokens with 1,000 firing one pass takes ~0.35 s.
        return max(1.0, min(self.config.schedule.sweep_interval, 3.0))

    def jobs(self) -> list[Job]:
        tick = max(0.5, min(1.0, self.config.alerts.group_wait))
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
            try:
                with exclusive(self.sessions, "alerts") as s:
                    result = evaluate(s, self.config.alerts, now)
            except LockBusy:
                log.info("alerts: another daemon is evaluating; skipping this tick")
                return
            if result.events:
                log.info("alerts: %d transition(s) to notify (%d firing)", result.events, result.desired)
        if self.group(now):
            # New messages go out at once; a slow channel holds this tick at most TICK_WAIT seconds (the
            # round goes on in the background), so the next evaluation is never stuck behind it.
            self.deliver(wait=TICK_WAIT)

    def group(self, now: float) -> int:
        a = self.config.alerts
        try:
            with exclusive(self.sessions, "group") as s:
                url = self.config.http.external_url
                return enqueue_pending(s, self.config.notifiers, now, a.group_wait, url)
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

    def reload(self, config: Config) -> None:
        self.config = config
        self.outbox.ttl = config.alerts.notification_ttl
        relay = relay_notifiers(forward_url(config))
        self.outbox.replace_notifiers(build_notifiers(config.notifiers, self.notify_stream) | relay)

    def stop(self) -> None:
        """Nothing to stop claiming: a tick is one short transaction, delivery ends with `close`."""

    def close(self) -> None:
        self.outbox.close()
