"""Process faults: SIGTERM in the middle of a sweep, and `kill -9` followed by a restart."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers_daemon import Fleet
from receivers import HttpReceiver
from sqlalchemy import func, select

from monitor.db.models import Notification, Token
from monitor.simulator import DAY, Simulator

from .conftest import Monitor, until, with_notifiers

SCHEDULE = {"sweep_interval": "1s", "lease": "10s", "min_check_interval": "1s", "max_check_interval": "60s"}


def checked_since(fleet: Fleet, names: list[str], since: float) -> int:
    return sum(1 for n in names if (fleet.rows()[n].last_check_at or 0) >= since)


def notifications(fleet: Fleet) -> list[Notification]:
    with fleet.ctx.sessions() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)).all())


def leased_notifications(fleet: Fleet) -> int:
    with fleet.ctx.sessions() as s:
        stmt = select(func.count()).select_from(Notification).where(Notification.lease_owner.is_not(None))
        return int(s.scalar(stmt) or 0)


def test_sigterm_mid_sweep_exits_0_and_releases_every_lease(
    tmp_path: Path, sim: Simulator, fleets: Callable[..., Fleet], start_monitor: Callable[..., Monitor]
) -> None:
    fleet = fleets(f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim, threads={"concurrency": 4},
                   schedule=SCHEDULE)  # fmt: skip
    fleet.add_app("acme")
    names = fleet.add_tokens("acme", 40)
    sim.set_fault("latency", seconds=0.4)  # the sweep takes ~4 s: long enough to be interrupted
    daemon = start_monitor(fleet, ready=False)
    until(lambda: fleet.leases() > 0 and 0 < sum(fleet.calls().values()) < len(names) // 2, 30,
          "the sweep to be under way")  # fmt: skip
    assert daemon.stop(signal.SIGTERM) == 0  # not killed at the stop deadline
    assert fleet.leases() == 0, "tokens.lease_owner is NULL everywhere after a clean stop"
    assert leased_notifications(fleet) == 0
    log = daemon.output()
    assert "received SIGTERM, stopping" in log and "stopped" in log and "Traceback" not in log
    stored = [r for r in fleet.rows().values() if r.last_check_at is not None]
    assert stored and all(r.last_result == "valid" for r in stored), "what finished before the stop is stored"


@pytest.mark.slow
def test_kill_9_then_restart_inspects_every_due_token_and_delivers_everything_once(
    tmp_path: Path,
    sim: Simulator,
    hook: HttpReceiver,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
) -> None:
    fleet = fleets(f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim, threads={"concurrency": 4},
                   schedule=SCHEDULE)  # fmt: skip
    with_notifiers(fleet, f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n')
    fleet.add_app("acme")
    soon = time.time() + DAY
    before = fleet.add_tokens("acme", 3, prefix="before", expires_at=soon)  # alert before the kill
    after = fleet.add_tokens("acme", 3, prefix="after", expires_at=soon)  # alert after the restart
    healthy = fleet.add_tokens("acme", 30, prefix="healthy")
    second = after + healthy
    fleet.make_due(second, at=time.time() + 3600)
    hook.respond(503, body="busy")  # the first notification stays pending across the kill

    first = start_monitor(fleet, "first")
    until(lambda: [(n.status, n.attempts) for n in notifications(fleet)] == [("pending", 1)], 30,
          "the first notification to be pending after a 503")  # fmt: skip
    sim.set_fault("latency", seconds=0.3)
    mark = time.time()
    fleet.make_due(second)
    until(lambda: fleet.leases() > 0 and 0 < sum(fleet.calls(second).values()) < len(second) // 2, 30,
          "the second sweep to be under way")  # fmt: skip
    first.process.proc.kill()
    assert first.process.wait(10) == -signal.SIGKILL
    orphaned = fleet.leases()
    assert orphaned > 0, "the killed daemon left leases behind"

    restarted = start_monitor(fleet, "restarted")
    until(lambda: checked_since(fleet, second, mark) == len(second), 60,
          "every due token to be inspected once the dead daemon's leases expired")  # fmt: skip
    until(lambda: {n.status for n in notifications(fleet)} == {"sent"} and len(notifications(fleet)) == 2,
          60, "the pending notification and the new one to be delivered")  # fmt: skip
    assert restarted.alive() and restarted.stop() == 0

    calls = fleet.calls(second)
    assert min(calls.values()) == 1
    assert sum(1 for n in calls.values() if n > 1) <= orphaned, "only tokens in flight at the kill twice"
    assert set(fleet.snapshot_counts().values()) == {1}, "one snapshot per token"
    assert fleet.leases() == 0
    requests = hook.requests.items
    ids = Counter(r.headers["X-Threads-Monitor-Delivery"] for r in requests)
    assert sorted(ids.values()) == [1, 2], "the 503'd notification was retried under its id, once"
    assert ids[requests[0].headers["X-Threads-Monitor-Delivery"]] == 2
    delivered = Counter(
        (a["labels"]["alertname"], a["labels"]["token"])
        for r in requests[1:]
        for a in json.loads(r.body)["alerts"]
    )
    assert set(delivered.values()) == {1}, "no alert was notified twice"
    assert {token for _, token in delivered} == set(before + after)
    assert "Traceback" not in first.output() + restarted.output()
    with fleet.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Token).where(Token.lease_owner.is_not(None))) == 0
