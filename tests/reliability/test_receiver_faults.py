"""Receiver faults: webhook and SMTP servers down, slow, answering 500 or 429 with Retry-After.

The long timelines (minutes of backoff) run through the daemon's own alerting component on a test clock
against real receivers; the last test runs the real daemon process against a webhook that answers 429 with
Retry-After and an SMTP server that is down at first.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet, new_secret
from receivers import SmtpReceiver
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from support import free_port

from monitor.alerting.job import AlertsComponent, AlertSettings
from monitor.alerting.outbox import BACKOFF_FIRST
from monitor.config.load import AlertsConfig, Config, NotifierConfig
from monitor.crypto import Vault, create_key_file
from monitor.db.migrate import upgrade
from monitor.db.models import Notification, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator import DAY, Simulator

from .conftest import Evidence, FixedPortReceiver, Monitor, until, with_notifiers

T0 = 1_800_000_000.0
TIMEOUT = 1.0  # the notifiers' timeout in these tests
LATEST = 1.2  # outbox backoff jitter: an attempt is due at most 1.2 x the base delay later


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sessions(tmp_path: Path, evidence: Evidence) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    key = tmp_path / "secret.key"
    create_key_file(key)
    vault = Vault([key])
    with transaction(factory) as s:
        add_app(s, vault, "growth", new_secret("inspalerts"), kind="user_token", threads_app_id="1", now=T0)
        add_tokens(s, vault, [NewToken(f"tok-{i}", "growth", new_secret("tok")) for i in range(3)], now=T0)
        s.execute(
            update(Token).values(is_valid=True, last_result="valid", observed_at=T0, expires_at=T0 + DAY)
        )
    yield factory
    evidence.dump(url)
    engine.dispose()


def alerting(sessions: sessionmaker[Session], clock: Clock, notifier: NotifierConfig) -> AlertsComponent:
    config = Config(alerts=AlertsConfig(group_wait=1.0), notifiers=(notifier,))
    return AlertsComponent(sessions, AlertSettings.of(config), owner="reliability", clock=clock)


def outbox_row(sessions: sessionmaker[Session]) -> Notification:
    with sessions() as s:
        (row,) = s.scalars(select(Notification)).all()
        return row


def step(comp: AlertsComponent, clock: Clock, seconds: float) -> None:
    """Let `seconds` pass on the test clock, then run the daemon's deliver job once."""
    clock.now += seconds
    comp.deliver()


def test_webhook_down_500_429_and_slow_then_delivered_once(
    sessions: sessionmaker[Session], evidence: Evidence
) -> None:
    clock = Clock()
    hook = FixedPortReceiver(free_port())  # not started: down
    settings = {"url": hook.url("/hook"), "secret": new_secret("hooksecret")}
    comp = alerting(sessions, clock, NotifierConfig("hooks", "webhook", timeout=TIMEOUT, settings=settings))
    try:
        comp.tick()  # fires three TokenExpiring alerts
        clock.now += 2
        comp.tick()  # groups them into one message and tries at once: connection refused
        row = outbox_row(sessions)
        assert (row.status, row.attempts) == ("pending", 1) and "ConnectionError" in row.last_error
        assert BACKOFF_FIRST * 0.8 <= row.next_attempt_at - clock.now <= BACKOFF_FIRST * LATEST

        with hook:
            hook.respond(500, body="boom")
            hook.respond(429, {"Retry-After": "120"}, "slow down")
            hook.respond(200)  # answered after the client gave up (see the delay below)
            hook.delay(0, 0, 2 * TIMEOUT, 0.3 * TIMEOUT)
            step(comp, clock, BACKOFF_FIRST * LATEST)
            assert len(hook.wait_for(1)) == 1 and outbox_row(sessions).last_error == "HTTP 500: boom"
            step(comp, clock, 2 * BACKOFF_FIRST * LATEST)
            assert len(hook.wait_for(2)) == 2
            row = outbox_row(sessions)
            assert row.next_attempt_at - clock.now >= 120, "Retry-After is honoured over the shorter backoff"
            step(comp, clock, 119)
            assert len(hook.requests.items) == 2, "nothing is sent before Retry-After has passed"
            step(comp, clock, 2)
            assert len(hook.wait_for(3)) == 3  # the slow one: the notifier times out, so it is retried
            assert "Timeout" in outbox_row(sessions).last_error
            step(comp, clock, 8 * BACKOFF_FIRST * LATEST)
            requests = hook.wait_for(4)
            for _ in range(3):
                step(comp, clock, 3600)
            assert len(hook.requests.items) == 4, "nothing is sent after the delivery"
    finally:
        comp.close()
    row = outbox_row(sessions)
    assert (row.status, row.attempts) == ("sent", 5)
    ids = {r.headers["X-Threads-Monitor-Delivery"] for r in requests}
    assert ids == {row.delivery_id}, "every attempt carries the same delivery id (receivers dedupe on it)"
    assert len(json.loads(requests[-1].body)["alerts"]) == 3
    for r in requests:
        evidence.add("webhook request", r.body)


def test_smtp_down_then_451_then_delivered_once(
    sessions: sessionmaker[Session], tmp_path: Path, smtp: SmtpReceiver, smtp_port: int
) -> None:
    clock = Clock()
    settings = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "security": "none",
                "from": "monitor@example.com", "to": ["ops@example.com"]}  # fmt: skip
    comp = alerting(sessions, clock, NotifierConfig("mail", "email", timeout=TIMEOUT, settings=settings))
    try:
        comp.tick()
        clock.now += 2
        comp.tick()  # down: connection refused
        assert outbox_row(sessions).attempts == 1 and "ConnectionRefused" in outbox_row(sessions).last_error
        smtp.controller.start()
        smtp.fail("451 4.3.0 try again later")
        step(comp, clock, BACKOFF_FIRST * LATEST)
        row = outbox_row(sessions)
        assert (row.status, row.attempts) == ("pending", 2) and row.last_error.startswith("SMTP 451")
        assert smtp.messages.items == []
        step(comp, clock, 2 * BACKOFF_FIRST * LATEST)
        (mail,) = smtp.wait_for(1)
        for _ in range(3):
            step(comp, clock, 3600)
    finally:
        comp.close()
    assert len(smtp.messages.items) == 1
    row = outbox_row(sessions)
    assert (row.status, row.attempts) == ("sent", 3)
    assert mail.message["X-Threads-Monitor-Delivery"] == row.delivery_id
    assert "[FIRING:3] TokenExpiring" in mail.message["Subject"]


def hook_retry(fleet: Fleet) -> float | None:
    """When the "hooks" message is to be tried again, once its first attempt failed."""
    with fleet.ctx.sessions() as s:
        row = s.execute(
            select(Notification.attempts, Notification.next_attempt_at).where(
                Notification.notifier == "hooks"
            )
        ).first()
    return float(row.next_attempt_at) if row is not None and row.attempts >= 1 else None


def statuses(fleet: Fleet) -> list[str]:
    with fleet.ctx.sessions() as s:
        return sorted(s.scalars(select(Notification.status)).all())


@pytest.mark.slow
def test_daemon_honours_retry_after_and_waits_for_a_down_smtp_server(
    tmp_path: Path,
    sim: Simulator,
    smtp: SmtpReceiver,
    smtp_port: int,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    evidence: Evidence,
) -> None:
    retry_after = 13  # above the first backoff (10 s +- 20 %), so only Retry-After explains the wait
    with FixedPortReceiver(free_port()) as hook:
        hook.respond(429, {"Retry-After": str(retry_after)}, "slow down")
        hook.delay(0, 0.5)  # and the delivery itself is slow (within the timeout)
        fleet = fleets(f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim)
        with_notifiers(
            fleet,
            f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n\n'
            f'[[notifiers]]\nname = "mail"\ntype = "email"\nsmtp_host = "127.0.0.1"\n'
            f'smtp_port = {smtp_port}\nsecurity = "none"\nfrom = "monitor@example.com"\n'
            'to = ["ops@example.com"]\n',
        )
        fleet.add_app("acme")
        names = fleet.add_tokens("acme", 3, expires_at=time.time() + DAY)
        daemon = start_monitor(fleet)
        hook.wait_for(1, timeout=30)
        # The 429 is stored before anything else happens to the message: its next attempt is no sooner than
        # Retry-After after the first one arrived (a schedule the retry below then keeps).
        retry = until(lambda: hook_retry(fleet), 30, "the 429 to be recorded")
        assert retry >= hook.arrivals[0] + retry_after
        until(lambda: "to mail failed" in daemon.output(), 30, "the first email attempt to fail")
        smtp.controller.start()  # the mail server comes up after the first attempt failed
        requests = hook.wait_for(2, timeout=30)
        (mail,) = smtp.wait_for(1, timeout=30)
        until(lambda: statuses(fleet) == ["sent", "sent"], 10, "the outbox to record both deliveries")
        assert hook.arrivals[1] >= retry
        assert daemon.alive() and daemon.stop() == 0
    assert len(hook.requests.items) == 2 and len(smtp.messages.items) == 1, "nothing was sent twice"
    ids = Counter(r.headers["X-Threads-Monitor-Delivery"] for r in requests)
    assert list(ids.values()) == [2], "the retry carried the delivery id of the first attempt"
    tokens = sorted(a["labels"]["token"] for a in json.loads(requests[1].body)["alerts"])
    assert tokens == sorted(names)
    assert mail.message["X-Threads-Monitor-Delivery"] not in ids
    for r in requests:
        evidence.add("webhook request", r.body)
