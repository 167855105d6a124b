"""The durable outbox against real receivers, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from receivers import HttpReceiver, HttpRequest, HttpResponse
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.outbox import (
    BACKOFF_CAP,
    Outbox,
    backoff,
    build_notifiers,
    enqueue_pending,
    group_key,
    route,
)
from monitor.config.load import NotifierConfig
from monitor.db.migrate import upgrade
from monitor.db.models import AlertEventRow, Notification
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.notify import AlertEvent

T0 = 1_800_000_000.0
DELIVERY = "X-Threads-Monitor-Delivery"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class ScriptedReceiver(HttpReceiver):
    """Answers `down` (a status, headers) while the injected clock is before `down_until`, else 200."""

    def __init__(
        self, clock: Clock, down_until: float = 0.0, down: HttpResponse = (500, {}, b"boom")
    ) -> None:
        super().__init__()
        self.clock, self.down_until, self.down = clock, down_until, down

    def next_response(self) -> HttpResponse:
        return self.down if self.clock() < self.down_until else (200, {}, b"ok")

    def posts(self) -> list[HttpRequest]:
        """The deliveries: a stray GET (a process polling a port this receiver reused) is none."""
        return [r for r in self.requests.items if r.method == "POST"]


def event(i: int, status: str = "firing") -> AlertEvent:
    labels = {"alertname": "TokenExpiring", "token": f"tok-{i}", "app": "growth", "severity": "critical"}
    return AlertEvent("TokenExpiring", status, "critical", labels, {}, T0, None, f"{i:016x}", T0 + 86400)


def hook_cfg(name: str, receiver: HttpReceiver) -> NotifierConfig:
    return NotifierConfig(name, "webhook", timeout=5.0, settings={"url": receiver.url(f"/{name}")})


def make_db(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return make_sessionmaker(engine)


def queue(sessions: sessionmaker[Session], cfgs: list[NotifierConfig], now: float, count: int) -> None:
    """`count` messages per notifier, each from one alert event, through the grouping step."""
    for i in range(count):
        with transaction(sessions) as s:
            s.execute(insert(AlertEventRow), [{"created_at": now, "payload": json.dumps(event(i).to_dict())}])
            assert enqueue_pending(s, cfgs, now, group_wait=0.0) == len(cfgs)


def statuses(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(Notification.status).order_by(Notification.id)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(sqlite_url: str) -> sessionmaker[Session]:
    return make_db(sqlite_url)


@pytest.fixture
def flaky(clock: Clock) -> Iterator[ScriptedReceiver]:
    with ScriptedReceiver(clock) as r:
        yield r


def outbox(
    sessions: sessionmaker[Session],
    cfgs: list[NotifierConfig],
    clock: Clock,
    owner: str = "o1",
    outcomes: list[tuple[str, str]] | None = None,
) -> Outbox:
    record = outcomes.append if outcomes is not None else None
    on_outcome = (lambda n, o: record((n, o))) if record else None
    return Outbox(
        sessions,
        build_notifiers(cfgs),
        owner=owner,
        ttl=86400.0,
        clock=clock,
        rand=lambda: 0.5,
        on_outcome=on_outcome,
    )


# --- pure parts ----------------------------------------------------------------------------------------


def test_backoff_doubles_from_10s_to_10min_with_jitter_and_honours_retry_after() -> None:
    assert [backoff(n, None, 0.0) for n in (1, 2, 3)] == [10.0, 20.0, 40.0]
    assert backoff(30, None, 0.0) == BACKOFF_CAP == 600.0
    assert 8.0 <= backoff(1, None, 0.999) <= backoff(1, None, 0.5) <= 10.0  # jitter only shortens, by <= 20 %
    assert backoff(30, None, 0.99) <= BACKOFF_CAP
    assert backoff(1, 90.0, 0.5) == 90.0


def test_route_one_message_per_accepting_notifier() -> None:
    warn = AlertEvent("TokenScopesLost", "firing", "warning", {"team": "a"}, {}, T0, None, "f1")
    crit = event(1)
    cfgs = [
        NotifierConfig("all", "console"),
        NotifierConfig("crit", "console", min_severity="critical"),
        NotifierConfig("team-b", "console", match={"team": "b"}),
    ]
    messages = route([warn, crit], cfgs, T0)
    assert [(m.notifier, len(m.alerts)) for m in messages] == [("all", 2), ("crit", 1)]
    assert messages[0].alerts[0] is crit  # critical first
    assert group_key([crit]) == '{}:{alertname="TokenExpiring"}' and group_key([warn, crit]) == "{}:{}"


def test_group_wait_holds_events_until_the_oldest_is_old_enough(sessions: sessionmaker[Session]) -> None:
    cfgs = [NotifierConfig("c", "console")]
    with transaction(sessions) as s:
        s.execute(insert(AlertEventRow), [{"created_at": T0, "payload": json.dumps(event(1).to_dict())}])
        assert enqueue_pending(s, cfgs, T0 + 29, group_wait=30.0) == 0
        assert enqueue_pending(s, cfgs, T0 + 30, group_wait=30.0) == 1
    assert statuses(sessions) == ["pending"]


# --- delivery against real receivers -------------------------------------------------------------------


def test_receiver_down_10_minutes_gets_everything_exactly_once(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    flaky.down_until = T0 + 600
    queue(sessions, [hook_cfg("hooks", flaky)], T0, 5)
    box = outbox(sessions, [hook_cfg("hooks", flaky)], clock)
    sent_at: dict[str, float] = {}
    while clock.now < T0 + 3600 and set(statuses(sessions)) != {"sent"}:
        before = len(flaky.posts())
        box.deliver_due()
        for r in flaky.posts()[before:]:
            if clock.now >= flaky.down_until:
                assert r.headers[DELIVERY] not in sent_at, "delivered twice"
                sent_at[r.headers[DELIVERY]] = clock.now
        clock.now += 2
    box.close()
    assert statuses(sessions) == ["sent"] * 5 and len(sent_at) == 5
    # Back within one capped backoff of the recovery, and the dead period cost few attempts (backoff).
    assert max(sent_at.values()) <= flaky.down_until + BACKOFF_CAP * 1.2 + 5
    failed_attempts = len(flaky.posts()) - 5
    assert failed_attempts <= 12


def test_retry_after_is_honoured(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    flaky.down_until, flaky.down = T0 + 1, (429, {"Retry-After": "120"}, b"slow down")
    queue(sessions, [hook_cfg("hooks", flaky)], T0, 1)
    box = outbox(sessions, [hook_cfg("hooks", flaky)], clock)
    box.deliver_due()
    with sessions() as s:
        row = s.scalars(select(Notification)).one()
    assert row.next_attempt_at >= T0 + 120 and row.attempts == 1 and "429" in (row.last_error or "")
    clock.now = T0 + 119
    box.deliver_due()
    assert len(flaky.posts()) == 1
    clock.now = T0 + 120
    box.deliver_due()
    assert len(flaky.posts()) == 2 and statuses(sessions) == ["sent"]


def test_retry_after_counts_from_the_answer_not_from_the_request(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    """A receiver that takes 30 s to say "429, Retry-After: 120" is asked again 120 s after it said so."""
    flaky.down_until, flaky.down = T0 + 1, (429, {"Retry-After": "120"}, b"slow down")
    real_next = flaky.next_response

    def slow_answer() -> HttpResponse:
        answer = real_next()
        clock.now += 30  # the receiver thinks for 30 s before it answers
        return answer

    flaky.next_response = slow_answer  # type: ignore[method-assign]
    queue(sessions, [hook_cfg("hooks", flaky)], T0, 1)
    outbox(sessions, [hook_cfg("hooks", flaky)], clock).deliver_due()
    with sessions() as s:
        assert s.scalar(select(Notification.next_attempt_at)) == T0 + 30 + 120


def test_404_is_permanent_and_counted_failed(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    flaky.down_until, flaky.down = float("inf"), (404, {}, b"no such hook")
    outcomes: list[tuple[str, str]] = []
    queue(sessions, [hook_cfg("hooks", flaky)], T0, 1)
    box = outbox(sessions, [hook_cfg("hooks", flaky)], clock, outcomes=outcomes)
    for _ in range(5):
        box.deliver_due()
        clock.now += 3600
    assert len(flaky.posts()) == 1 and statuses(sessions) == ["failed"]
    assert outcomes == [("hooks", "failed")]
    with sessions() as s:
        error = s.scalar(select(Notification.last_error))
    assert error is not None and "404" in error and "127.0.0.1" not in error


def test_each_attempt_is_timed_per_notifier(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    """threads_monitor_notification_duration_seconds: present (0) for every notifier from the start, one
    observation per attempt, refused or sent."""
    registry = CollectorRegistry()
    flaky.down_until, flaky.down = float("inf"), (404, {}, b"no such hook")
    cfgs = [hook_cfg("hooks", flaky), hook_cfg("idle", flaky)]
    queue(sessions, cfgs[:1], T0, 2)
    box = Outbox(sessions, build_notifiers(cfgs), owner="o1", ttl=86400.0, clock=clock, registry=registry)
    count = "threads_monitor_notification_duration_seconds_count"
    assert registry.get_sample_value(count, {"notifier": "idle"}) == 0.0
    box.deliver_due()
    assert registry.get_sample_value(count, {"notifier": "hooks"}) == 2.0
    assert registry.get_sample_value(count, {"notifier": "idle"}) == 0.0
    total = registry.get_sample_value(
        "threads_monitor_notification_duration_seconds_sum", {"notifier": "hooks"}
    )
    assert total is not None and total > 0


def test_24h_old_is_dropped_and_counted(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    flaky.down_until = float("inf")
    outcomes: list[tuple[str, str]] = []
    queue(sessions, [hook_cfg("hooks", flaky)], T0, 1)
    box = outbox(sessions, [hook_cfg("hooks", flaky)], clock, outcomes=outcomes)
    while clock.now < T0 + 86400 + 1200:
        box.deliver_due()
        clock.now += 60
    assert statuses(sessions) == ["dropped"] and outcomes == [("hooks", "dropped")]
    assert 100 <= len(flaky.posts()) <= 200  # retried all day, backed off to the 10 min cap


def test_removed_notifier_waits_for_the_ttl_and_a_dead_one_does_not_block_others(
    sessions: sessionmaker[Session], clock: Clock, flaky: ScriptedReceiver
) -> None:
    """A notifier this daemon does not know (removed, or added on a daemon not reloaded yet) is left to the
    daemons that know it, and dropped and counted at the TTL like any undelivered message."""
    flaky.down_until = float("inf")
    with HttpReceiver() as healthy:
        cfgs = [hook_cfg("dead", flaky), hook_cfg("good", healthy), hook_cfg("gone", healthy)]
        queue(sessions, cfgs, T0, 3)
        outcomes: list[tuple[str, str]] = []
        box = outbox(sessions, cfgs[:2], clock, outcomes=outcomes)
        box.deliver_due()
        assert len(healthy.wait_for(3)) == 3
        assert len(flaky.posts()) == 1  # one failed attempt; its other messages wait with it
        assert sorted(outcomes) == [("good", "sent")] * 3
        with sessions() as s:
            rows = s.execute(select(Notification.notifier, Notification.status, Notification.attempts)).all()
        assert ("gone", "pending", 0) in rows
        clock.now = T0 + 86400
        box.deliver_due()
    assert sorted(outcomes) == [("dead", "dropped")] * 3 + [("gone", "dropped")] * 3 + [("good", "sent")] * 3
    with sessions() as s:
        rows = s.execute(select(Notification.notifier, Notification.status)).all()
    assert sorted(set(rows)) == [("dead", "dropped"), ("gone", "dropped"), ("good", "sent")]


def test_huge_retry_after_never_keeps_a_message_past_the_ttl(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    with HttpReceiver() as hook:
        hook.respond(429, {"Retry-After": "86400000"})
        cfgs = [hook_cfg("hooks", hook)]
        queue(sessions, cfgs, T0, 1)
        outcomes: list[tuple[str, str]] = []
        box = outbox(sessions, cfgs, clock, outcomes=outcomes)
        box.deliver_due()
        with sessions() as s:
            (next_at,) = s.execute(select(Notification.next_attempt_at)).one()
        assert next_at <= T0 + 86400
        clock.now = T0 + 86400
        box.deliver_due()
    assert outcomes == [("hooks", "dropped")]


def test_slow_sends_hand_back_the_rest_of_the_batch_at_half_the_lease(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    """Another daemon may claim what this one holds once the lease runs out: never send past half of it."""
    with HttpReceiver() as hook:
        cfgs = [hook_cfg("hooks", hook)]
        queue(sessions, cfgs, T0, 5)
        box = outbox(sessions, cfgs, clock)
        real_send = box.notifiers["hooks"].send

        def slow_send(message: object) -> None:
            real_send(message)  # type: ignore[arg-type]
            clock.now += box.lease / 4  # each send takes a quarter of the lease

        box.notifiers["hooks"].send = slow_send  # type: ignore[method-assign]
        box.deliver_due()
        assert len(hook.wait_for(3)) == 3  # at 0, 1/4 and 2/4 of the lease; the 4th would start past half
        with sessions() as s:
            rows = s.execute(
                select(Notification.status, Notification.attempts, Notification.lease_owner)
            ).all()
        assert sorted(rows, key=str).count(("pending", 0, None)) == 2
        box.deliver_due()
        assert len(hook.wait_for(5)) == 5


def test_two_outboxes_on_postgres_deliver_each_notification_once(postgres_url: str) -> None:
    sessions = make_db(postgres_url)
    clock = Clock()
    with HttpReceiver() as hook:
        cfgs = [hook_cfg("hooks", hook)]
        queue(sessions, cfgs, T0, 60)
        boxes = [outbox(sessions, cfgs, clock, owner=f"daemon-{i}") for i in range(2)]
        barrier = threading.Barrier(2)

        def run(box: Outbox) -> None:
            barrier.wait()
            while box.deliver_due().outcomes:
                pass

        threads = [threading.Thread(target=run, args=(b,)) for b in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = Counter(r.headers[DELIVERY] for r in hook.requests.items)
    assert len(ids) == 60 and set(ids.values()) == {1}
    assert statuses(sessions) == ["sent"] * 60
