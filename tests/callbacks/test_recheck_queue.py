"""The queue behind callbacks and the recheck API, in-process: what gets queued, who claims it, and when.

A queued token is the recheck claim's, never the scheduled sweep's; it is claimed ahead of due work, within
the call budget, and queued again only 10 s after its last asked-for check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_daemon import Fleet, close_sweeper, make_fleet
from sqlalchemy import select
from support import wait_until

from monitor.callbacks import RecheckRequest
from monitor.callbacks.store import RECHECK_SPACING, store_deauthorization, store_recheck
from monitor.check import store
from monitor.check.recheck import Rechecker
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.graph.budget import CallBudget
from monitor.simulator import Simulator

NOW = 1_900_000_000.0


@pytest.fixture
def fleet(tmp_path: Path, db_url: str) -> Iterator[Fleet]:
    with Simulator() as sim:
        f = make_fleet(tmp_path, db_url, sim)
        f.add_app("growth")
        f.add_tokens("growth", 3, prefix="u111", user_id="111")
        f.add_tokens("growth", 2, prefix="u222", user_id="222")
        sweeper = f.sweeper(clock=lambda: NOW)
        try:
            sweeper.check_now([t.id for t in f.rows().values()])  # every token's user_id is now known
        finally:
            close_sweeper(sweeper)
        yield f
        f.close()


def queue(fleet: Fleet, user_id: str, now: float) -> int:
    with transaction(fleet.ctx.sessions) as s:
        return store_deauthorization(s, "growth", user_id, int(now), now)


def test_a_callback_queues_only_its_users_tokens_and_once_per_10s(fleet: Fleet) -> None:
    assert queue(fleet, "111", NOW) == 3
    assert queue(fleet, "111", NOW + 1) == 0  # already queued
    queued = {n for n, t in fleet.rows().items() if t.recheck_at is not None}
    assert queued == {n for n in fleet.tokens if n.startswith("u111")}
    with transaction(fleet.ctx.sessions) as s:
        claimed = store.claim_rechecks(s, "a", NOW + 2, 60.0, 100)
        assert store.claim_rechecks(s, "b", NOW + 2, 60.0, 100) == []  # leased: nobody else takes them
        store.release(s, "a")
    assert {c.name for c in claimed} == queued
    rows = fleet.rows()
    assert all(rows[n].recheck_at is None and rows[n].callback_check_at == NOW + 2 for n in queued)
    assert queue(fleet, "111", NOW + 2 + RECHECK_SPACING - 1) == 0  # checked less than 10 s ago
    assert queue(fleet, "111", NOW + 2 + RECHECK_SPACING) == 3
    with transaction(fleet.ctx.sessions) as s:
        assert store_recheck(s, RecheckRequest(app="nope", user_id="111"), NOW) == 0
        assert store_recheck(s, RecheckRequest(tokens=("u222-00000", "missing")), NOW) == 1


def test_queued_tokens_are_not_the_schedules_and_go_first(fleet: Fleet) -> None:
    fleet.make_due()  # every token is due for its scheduled check too
    queue(fleet, "111", NOW)
    with transaction(fleet.ctx.sessions) as s:
        due = {c.name for c in store.claim_due(s, "sweep", NOW, 60.0, 100)}
        store.release(s, "sweep")
    assert due == {n for n in fleet.tokens if n.startswith("u222")}
    sweeper = fleet.sweeper(clock=lambda: NOW)
    rechecker = Rechecker(sweeper)
    try:
        checked = rechecker.run()
    finally:
        rechecker.stop()
        close_sweeper(sweeper)
    assert sorted(o.claimed.name for o in checked) == sorted(n for n in fleet.tokens if n.startswith("u111"))
    assert fleet.calls() == {n: 2 if n.startswith("u111") else 1 for n in fleet.tokens}
    with fleet.ctx.sessions() as s:
        assert (
            s.scalars(select(Token.callback_check_reason).where(Token.user_id == "111")).all()
            == ["deauthorize"] * 3
        )


def test_queued_checks_wait_for_the_call_budget(fleet: Fleet) -> None:
    """A check reserves 1 + retries calls and refunds what it did not use: with room for less than one
    reservation nothing is claimed; with 4 calls an hour, two checks fit and the third stays queued."""
    queue(fleet, "111", NOW)
    user = [n for n in fleet.tokens if n.startswith("u111")]
    before = sum(fleet.calls(user).values())
    for per_hour, checked in ((2, 0), (4, 2)):
        sweeper = fleet.sweeper(clock=lambda: NOW, budget=CallBudget(per_hour=per_hour))
        rechecker = Rechecker(sweeper)
        try:
            assert len(rechecker.run()) == checked
        finally:
            rechecker.stop()
            close_sweeper(sweeper)
        assert sum(fleet.calls(user).values()) - before == checked
        assert sum(1 for t in fleet.rows().values() if t.recheck_at is not None) == 3 - checked


def test_stored_callbacks_follow_the_retention(fleet: Fleet) -> None:
    from sqlalchemy import func

    from monitor.check.retention import prune
    from monitor.db.models import Callback

    queue(fleet, "111", NOW - 500 * 86400)
    queue(fleet, "222", NOW)
    prune(fleet.ctx.sessions, cutoff=NOW - 400 * 86400)
    with fleet.ctx.sessions() as s:
        assert s.scalars(select(Callback.user_id)).all() == ["222"]
        assert s.scalar(select(func.count()).select_from(Callback)) == 1


class HeldClient:
    """The sweeper's API client, holding every debug_token call for the `held` token strings until `gate`
    opens (a sweep stuck on a slow API, without a clock)."""

    def __init__(self, client: Any, held: set[str]) -> None:
        self.client, self.held, self.gate = client, held, threading.Event()

    def debug_token(self, token: str, inspector: str) -> Any:
        if token in self.held:
            self.gate.wait(60)
        return self.client.debug_token(token, inspector)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_queued_checks_do_not_wait_behind_a_stuck_sweep(fleet: Fleet) -> None:
    """The scheduled sweep is stuck on user 222's tokens; user 111's queued checks still run, on workers of
    their own, and finish while the sweep is still waiting."""
    others = [n for n in fleet.tokens if n.startswith("u222")]
    fleet.make_due(others)
    sweeper = fleet.sweeper(clock=lambda: NOW, concurrency=2)
    held = HeldClient(sweeper.client, {fleet.tokens[n] for n in others})
    sweeper.client = held
    sweep = threading.Thread(target=sweeper.sweep)
    sweep.start()
    rechecker = Rechecker(sweeper)
    try:
        wait_until(lambda: fleet.leases() == len(others), 30, "the sweep to hold user 222's tokens")
        queue(fleet, "111", NOW)
        checked = rechecker.run()
        assert sorted(o.claimed.name for o in checked) == sorted(
            n for n in fleet.tokens if n.startswith("u111")
        )
        assert sweep.is_alive() and not held.gate.is_set()  # the sweep is still stuck
    finally:
        held.gate.set()
        sweep.join(60)
        rechecker.stop()
        close_sweeper(sweeper)
    assert fleet.calls(others) == dict.fromkeys(others, 2)  # the first check, then the stuck sweep's
