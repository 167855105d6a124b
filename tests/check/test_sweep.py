"""The sweep against the simulator: every classification, every fault, inspector probes, throttling, the
call budget, leases shared between sweepers, and retention.

Time is injected: the sweeper's clock is a list the test moves forward, so backoffs of hours take no time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet, close_sweeper, make_fleet, scan_secrets  # noqa: F401 - scan_secrets is a fixture
from sqlalchemy import insert, select

from monitor.check.observe import Cadence
from monitor.check.outcome import SweepStats
from monitor.check.retention import prune
from monitor.check.sweep import Sweeper
from monitor.db.models import Snapshot, Token
from monitor.graph.budget import CallBudget
from monitor.simulator import Simulator
from monitor.state import Horizons, State, token_state

pytestmark = pytest.mark.usefixtures("scan_secrets")
HOUR = 3600.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def fleet(tmp_path: Path, sqlite_url: str, sim: Simulator) -> Iterator[Fleet]:
    f = make_fleet(tmp_path, sqlite_url, sim)
    yield f
    f.close()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def state_of(row: Token, now: float) -> State:
    return token_state(
        is_valid=row.is_valid,
        expires_at=row.expires_at,
        data_access_expires_at=row.data_access_expires_at,
        last_result=row.last_result,
        horizons=Horizons(),
        now=now,
    )


def assert_schedule_intact(fleet: Fleet, now: float) -> None:
    """No token lost: each has a future next check and no lease."""
    rows = fleet.rows()
    assert len(rows) == len(fleet.tokens)
    assert all(r.next_check_at is not None and r.next_check_at > now for r in rows.values())
    assert fleet.leases() == 0


def test_every_classification_is_stored(fleet: Fleet) -> None:
    fleet.add_app("ok")
    names = {
        state: fleet.add_tokens("ok", 3, state=state)
        for state in ("valid", "expired", "password_changed", "revoked", "garbage")
    }
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock)
    try:
        stats = sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    assert stats.inspected == 15 and dict(stats.results) == {"valid": 3, "invalid": 12}
    rows = fleet.rows()
    for state, ns in names.items():
        for n in ns:
            row = rows[n]
            if state == "valid":
                assert (row.last_result, row.is_valid, row.invalid_reason) == ("valid", True, None)
                assert row.expires_at is not None and row.scopes == "threads_basic threads_content_publish"
                assert row.next_check_at == pytest.approx(clock.now + 6 * HOUR)  # healthy: the 6h ceiling
                assert state_of(row, clock.now) == State.OK
            else:
                reason = "unparseable" if state == "garbage" else state
                assert (row.last_result, row.is_valid, row.invalid_reason) == ("invalid", False, reason)
                assert state_of(row, clock.now) == State.INVALID
            assert row.last_check_at == clock.now and row.consecutive_failures == 0
    assert set(fleet.snapshot_counts().values()) == {1}
    assert fleet.calls() == dict.fromkeys(fleet.tokens, 1)
    assert fleet.app_states() == {"ok": "ok"}
    assert_schedule_intact(fleet, clock.now)


@pytest.mark.parametrize("app_state", ["invalid", "dev_mode"])
def test_an_inspector_problem_costs_one_probe_per_app_per_backoff(fleet: Fleet, app_state: str) -> None:
    fleet.add_app("good")
    good = fleet.add_tokens("good", 5)
    inspector = fleet.add_app("broken", state=app_state)
    broken = fleet.add_tokens("broken", 40)
    clock = Clock()
    start = clock.now
    sweeper = fleet.sweeper(clock=clock, concurrency=8)
    probes: list[float] = []
    try:
        sweeper.sweep()
        rows = fleet.rows()
        assert sum(fleet.calls(broken).values()) == 1, "one probe, not one call per token"
        assert all(rows[n].last_result == "inspector" for n in broken)
        assert all(state_of(rows[n], clock.now) == State.UNCHECKED for n in broken)
        assert all(rows[n].last_result == "valid" for n in good)
        assert fleet.app_states() == {"good": "ok", "broken": "invalid"}
        probes.append(clock.now)
        # Six simulated hours, a sweep every 2 minutes: the broken app is probed once per (doubling) backoff.
        for _ in range(180):
            clock.now += 120
            before = sum(fleet.calls(broken).values())
            sweeper.sweep()
            after = sum(fleet.calls(broken).values())
            assert after - before <= 1
            if after > before:
                probes.append(clock.now)
        gaps = [b - a for a, b in zip(probes, probes[1:], strict=False)]
        print(f"\n{app_state}: {len(probes)} probe call(s) in 6 h for 40 tokens, gaps {gaps}")
        assert len(probes) <= 8 and gaps == sorted(gaps) and gaps[0] >= 300
        assert set(fleet.snapshot_counts().values()) == {1}  # inspector, again and again: one snapshot
        assert_schedule_intact(fleet, clock.now)
        # The credential is fixed: the next probe answers and every token of the app is checked again.
        fleet.sim.add_app("broken", inspector, state="ok", application="App broken")
        for _ in range(200):
            clock.now += 120
            sweeper.sweep()
            if all(r.last_result == "valid" for r in fleet.rows().values()):
                break
        assert all(r.last_result == "valid" for r in fleet.rows().values())
        assert fleet.app_states()["broken"] == "ok"
        assert clock.now - start < 24 * HOUR
    finally:
        close_sweeper(sweeper)


def test_usage_at_100_percent_pauses_the_apps_checks(fleet: Fleet) -> None:
    fleet.add_app("hot")
    fleet.add_app("cool")
    hot = fleet.add_tokens("hot", 10)
    cool = fleet.add_tokens("cool", 10)
    for name in hot:
        fleet.sim.set_fault("usage", token=fleet.tokens[name], percent=100, minutes=10)
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock)
    try:
        sweeper.sweep()
        assert sum(fleet.calls(hot).values()) == 10
        fleet.make_due()
        clock.now += 60
        stats = sweeper.sweep()
        assert sum(fleet.calls(hot).values()) == 10, "paused: no call for the hot app"
        assert sum(fleet.calls(cool).values()) == 20, "the other app goes on"
        assert stats.deferred == 10
        rows = fleet.rows()
        assert all(rows[n].next_check_at >= clock.now - 60 + 600 for n in hot)  # deferred to the regain time
        fleet.sim.clear_faults()
        clock.now += 600
        sweeper.sweep()
        assert sum(fleet.calls(hot).values()) == 20
        assert_schedule_intact(fleet, clock.now)
    finally:
        close_sweeper(sweeper)


def test_throttling_answers_are_stored_and_retried_after_the_wait(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    fleet.add_app("a")
    names = fleet.add_tokens("a", 4)
    fleet.sim.set_fault("throttle", code=4, percent=100, minutes=30)
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="monitor.sweep"):
            stats = sweeper.sweep()
        assert "app a is throttled: pausing its checks for 1800 s" in caplog.text  # by name, not database id
        assert dict(stats.results) == {"throttled": 4}
        rows = fleet.rows()
        assert all(rows[n].last_result == "throttled" for n in names)
        assert all(rows[n].next_check_at >= clock.now + 1800 for n in names)  # the API's regain time
        assert fleet.sim.calls() == 4  # throttling is not retried inline
        assert_schedule_intact(fleet, clock.now)
    finally:
        close_sweeper(sweeper)
    throttled = [r.getMessage() for r in caplog.records if "is throttled" in r.getMessage()]
    assert throttled and throttled[0].startswith("app a is throttled"), throttled  # its name, not its id


FAULTS: dict[str, dict] = {
    "latency": {"seconds": 0.3},
    "http_error": {"status": 500},
    "graph_error": {"status": 500, "code": 2},
    "malformed": {},
    "truncated": {},
    "reset": {},
    "oversized": {"size": 1_500_000},
    "trickle": {"bytes_per_second": 20},
    "shape": {"body": {"data": "nonsense"}},
}
EXPECTED = {
    "latency": ("valid", None),
    "http_error": ("error", "http_5xx"),
    "graph_error": ("error", "http_5xx"),
    "malformed": ("error", "malformed"),
    "truncated": ("error", "malformed"),
    "reset": ("error", "connection"),
    "oversized": ("error", "too_large"),
    "trickle": ("error", "timeout"),
    "shape": ("error", "malformed"),
}


def test_no_fault_crashes_the_sweep_or_loses_a_token(fleet: Fleet) -> None:
    fleet.add_app("a")
    healthy = fleet.add_tokens("a", 20)
    faulty = dict(zip(FAULTS, fleet.add_tokens("a", len(FAULTS), prefix="faulty"), strict=True))
    for kind, name in faulty.items():
        fleet.sim.set_fault(kind, token=fleet.tokens[name], **FAULTS[kind])
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock, timeout=0.6, retries=1)
    try:
        for round_ in range(3):  # the same faults again: still no crash, no new snapshot
            fleet.make_due()
            stats = sweeper.sweep()
            assert stats.inspected == len(fleet.tokens)
            rows = fleet.rows()
            for kind, name in faulty.items():
                assert (rows[name].last_result, (rows[name].last_error or "").split(":")[0] or None) == (
                    EXPECTED[kind][0],
                    EXPECTED[kind][1],
                ), kind
                if EXPECTED[kind][0] == "error":
                    assert rows[name].consecutive_failures == round_ + 1
                    assert rows[name].failing_since is not None
            assert all(rows[n].last_result == "valid" for n in healthy)
            assert_schedule_intact(fleet, clock.now)
            clock.now += 60
        assert set(fleet.snapshot_counts().values()) == {1}
        # The faults go away: one answer, and the failing tokens are healthy again.
        fleet.sim.clear_faults()
        fleet.make_due()
        sweeper.sweep()
        rows = fleet.rows()
        assert all(r.last_result == "valid" and r.consecutive_failures == 0 for r in rows.values())
    finally:
        close_sweeper(sweeper)


def test_an_unreadable_token_is_an_error_result_not_a_crash(fleet: Fleet) -> None:
    fleet.add_app("a")
    names = fleet.add_tokens("a", 5)
    from sqlalchemy import update

    from monitor.db.session import transaction

    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == names[0]).values(secret="not-a-fernet-token"))
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock)
    try:
        stats = sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    assert dict(stats.results) == {"valid": 4, "error": 1}
    assert fleet.rows()[names[0]].last_error.startswith("internal")
    assert_schedule_intact(fleet, clock.now)


def test_max_calls_per_hour_is_never_exceeded_retries_included(fleet: Fleet) -> None:
    fleet.add_app("a")
    names = fleet.add_tokens("a", 200)
    for name in names[:20]:  # these need all three attempts
        fleet.sim.set_fault("http_error", token=fleet.tokens[name], status=503)
    budget = CallBudget(50)
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock, budget=budget, concurrency=16)
    try:
        for _ in range(20):
            sweeper.sweep()
            assert fleet.sim.calls() <= 50
            clock.now += 30
        stats = sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    print(f"\nbudget 50/h: {fleet.sim.calls()} calls for 200 due tokens (20 of them retried twice)")
    assert fleet.sim.calls() <= 50
    assert fleet.sim.calls() >= 40, "the budget is used, not wasted on reservations"
    assert stats.budget_exhausted
    rows = fleet.rows()
    assert sum(r.last_check_at is not None for r in rows.values()) < 200
    assert fleet.leases() == 0 and all(r.next_check_at is not None for r in rows.values())


def _first_claims_in_turn(sweepers: list[Sweeper]) -> None:
    """Each sweeper's first claim starts once the previous sweeper's first claim has committed, and none goes
    on before every first claim is made. Two claims at the same instant may leave one empty on MariaDB
    (InnoDB keeps every row a locking read matched locked until commit, LIMIT or not, and SKIP LOCKED then
    skips them all): correct, and the next sweep claims again, but then one sweeper takes no part here."""
    turns = [threading.Event() for _ in sweepers]

    def in_turn(index: int, claim: Callable[[int, SweepStats], list]) -> Callable[[int, SweepStats], list]:
        first = [True]

        def claim_in_turn(size: int, stats: SweepStats) -> list:
            if not first:
                return claim(size, stats)
            first.clear()
            if index:
                turns[index - 1].wait(30)
            batch = claim(size, stats)
            turns[index].set()
            turns[-1].wait(30)
            return batch

        return claim_in_turn

    for index, sweeper in enumerate(sweepers):
        sweeper._claim = in_turn(index, sweeper._claim)  # type: ignore[method-assign]


def write_during_check(fleet: Fleet, sweeper: Sweeper, token_id: int, **values: object) -> None:
    """Make `sweeper` write `values` to token `token_id` (another writer's change) while its check's call is
    in flight."""
    from sqlalchemy import update

    from monitor.db.session import transaction

    inspect = sweeper.apps.inspect

    def writing(client, claimed):  # type: ignore[no-untyped-def]
        if claimed.id == token_id:
            with transaction(fleet.ctx.sessions) as s:
                s.execute(update(Token).where(Token.id == token_id).values(**values))
        return inspect(client, claimed)

    sweeper.apps.inspect = writing  # type: ignore[method-assign]


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_two_sweepers_never_inspect_a_token_twice(tmp_path: Path, sim: Simulator, backend: str) -> None:
    from conftest import fresh_url

    gen = fresh_url(backend, tmp_path)
    url = next(gen)
    fleet = make_fleet(tmp_path, url, sim)
    try:
        fleet.add_app("a")
        fleet.add_tokens("a", 600)
        sim.set_fault("latency", seconds=0.005)
        sweepers = [fleet.sweeper(owner=f"s{i}", concurrency=8) for i in range(2)]
        # First claims in turn, so both take part however the threads are scheduled (claims grow to 256:
        # one sweeper alone can lease all 600, and simultaneous claims can leave one empty on MariaDB).
        _first_claims_in_turn(sweepers)
        stats: list = []
        threads = [threading.Thread(target=lambda s=s: stats.append(s.sweep())) for s in sweepers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for s in sweepers:
            close_sweeper(s)
        assert fleet.calls() == dict.fromkeys(fleet.tokens, 1)
        assert sum(s.inspected for s in stats) == 600 and all(s.inspected > 0 for s in stats)
        assert fleet.leases() == 0
    finally:
        fleet.close()
        next(gen, None)


def test_a_token_replaced_during_its_check_keeps_neither_the_answer_nor_the_lease(
    db_url: str, tmp_path: Path, sim: Simulator
) -> None:
    """A result is stored only while the string checked is still the token's; a batch with such a token
    still releases every lease it took (the write releases the others itself). Checks asked for at once
    (`check`) are the path where nothing else would drop that lease before it expires."""

    fleet = make_fleet(tmp_path, db_url, sim)
    try:
        fleet.add_app("a")
        names = fleet.add_tokens("a", 6)
        replaced = fleet.rows()[names[3]].id
        sweeper = fleet.sweeper(owner="s")
        # `tokens set-token` while the call is in flight
        write_during_check(fleet, sweeper, replaced, fingerprint="f" * 16)
        try:
            run = sweeper.check_ids([r.id for r in fleet.rows().values()])
        finally:
            close_sweeper(sweeper)
        rows = fleet.rows()
        assert len(run.outcomes) == 6 and not run.interrupted
        assert rows[names[3]].last_result is None and rows[names[3]].lease_owner is None
        assert all(rows[n].last_result == "valid" for n in names if n != names[3])
        assert fleet.leases() == 0
    finally:
        fleet.close()


def test_retention_keeps_the_newest_snapshot_per_token(db_url: str, tmp_path: Path, sim: Simulator) -> None:
    fleet = make_fleet(tmp_path, db_url, sim)
    try:
        fleet.add_app("a")
        names = fleet.add_tokens("a", 3)
        ids = {r.name: r.id for r in fleet.rows().values()}
        rows = []
        for i, name in enumerate(names):
            for age in (500, 450, 420 - i * 100):  # days ago: the newest is old for the first token only
                rows.append(
                    {
                        "token_id": ids[name],
                        "observed_at": 1_000_000_000 - age * 86400,
                        "result": "valid",
                        "fingerprint": "x",
                    }
                )
        from monitor.db.session import transaction

        with transaction(fleet.ctx.sessions) as s:
            s.execute(insert(Snapshot), rows)
        removed = prune(fleet.ctx.sessions, cutoff=1_000_000_000 - 400 * 86400, batch=2)
        assert removed == 6
        with fleet.ctx.sessions() as s:
            kept = s.execute(select(Snapshot.token_id, Snapshot.observed_at)).all()
        by_token = {ids[n]: [at for tid, at in kept if tid == ids[n]] for n in names}
        assert by_token[ids[names[0]]] == [1_000_000_000 - 420 * 86400]  # old, but the newest: kept
        assert by_token[ids[names[1]]] == [1_000_000_000 - 320 * 86400]
        assert by_token[ids[names[2]]] == [1_000_000_000 - 220 * 86400]
        assert prune(fleet.ctx.sessions, cutoff=1_000_000_000) == 0
    finally:
        fleet.close()


def test_cadence_is_used_for_the_next_check(fleet: Fleet) -> None:
    fleet.add_app("a")
    soon = fleet.add_tokens("a", 1, expires_at=time.time() + 2 * 86400, prefix="soon")
    far = fleet.add_tokens("a", 1, prefix="far")
    clock = Clock()
    sweeper = fleet.sweeper(clock=clock, cadence=Cadence(max_interval=HOUR * 6), rand=lambda: 0.9)
    try:
        sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    rows = fleet.rows()
    assert rows[soon[0]].next_check_at - clock.now <= HOUR
    assert rows[far[0]].next_check_at - clock.now == pytest.approx(6 * HOUR)


def test_a_deadlock_victim_transaction_is_retried(fleet: Fleet) -> None:
    import pymysql
    from sqlalchemy.exc import OperationalError

    from monitor.check import transactions

    deadlock = OperationalError("UPDATE tokens ...", {}, pymysql.err.OperationalError(1213, "Deadlock found"))
    broken = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2003, "Can't connect"))
    assert transactions.is_deadlock(deadlock) and not transactions.is_deadlock(broken)
    attempts: list[int] = []

    def work(_s: object) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise deadlock
        return "done"

    sweeper = fleet.sweeper()
    try:
        assert sweeper._tx(work) == "done" and len(attempts) == 3
        with pytest.raises(OperationalError):
            sweeper._tx(lambda _s: (_ for _ in ()).throw(broken))
    finally:
        close_sweeper(sweeper)


def test_a_slow_api_does_not_let_leases_expire_under_queued_work(fleet: Fleet, sim: Simulator) -> None:
    """Work claimed but still queued behind slow calls keeps its lease (renewed), so a second sweeper that
    runs meanwhile never inspects the same token: each token is called once."""
    fleet.add_app("ok")
    names = fleet.add_tokens("ok", 40)
    sim.set_fault("latency", seconds=0.1)
    slow = fleet.sweeper(owner="slow", concurrency=2, lease=0.6, retries=0)  # 40 x 0.1 s / 2 = 2 s > lease
    other = fleet.sweeper(owner="other", concurrency=2, lease=0.6, retries=0)
    try:
        worker = threading.Thread(target=slow.sweep)
        worker.start()
        while worker.is_alive():  # the other daemon keeps looking for expired leases the whole time
            other.sweep()
            worker.join(timeout=0.1)
        other.sweep()
    finally:
        close_sweeper(slow)
        close_sweeper(other)
    assert fleet.calls(names) == {n: 1 for n in names}
    assert fleet.leases() == 0


def test_a_result_the_database_refuses_costs_one_token_not_the_batch(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence behind the parser's bounds: if the database still refuses a row (DataError), the other results
    of the batch are stored and that token records an 'unstorable' check error instead of blocking sweeps."""
    from sqlalchemy.exc import DataError

    from monitor.check import writes

    fleet.add_app("ok")
    names = fleet.add_tokens("ok", 5)
    poisoned = fleet.rows()[names[2]].id
    real = writes.write_results

    def refusing(session, owner, batch):  # type: ignore[no-untyped-def]
        if any(w.token_id == poisoned and w.observation.result != "error" for w in batch):
            raise DataError(
                "UPDATE tokens ...", {}, Exception("value too long for type character varying(16)")
            )
        return real(session, owner, batch)

    monkeypatch.setattr(writes, "write_results", refusing)
    sweeper = fleet.sweeper()
    try:
        stats = sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    rows = fleet.rows()
    assert stats.inspected == 5
    assert rows[names[2]].last_result == "error" and rows[names[2]].last_error.startswith("unstorable")
    assert all(rows[n].last_result == "valid" for n in names if n != names[2])
    assert fleet.leases() == 0


def test_a_sweep_with_nothing_due_writes_nothing(fleet: Fleet) -> None:
    """Once every token was checked, the next sweeps only look for due work: the end of a sweep releases the
    leases it still holds by id, so a sweep that holds none writes nothing but its (empty) claim (releasing
    every lease of the owner read all of its earlier claims again through the lease index, every sweep)."""
    from sqlalchemy import event

    fleet.add_app("ok")
    names = fleet.add_tokens("ok", 6)
    sweeper = fleet.sweeper()
    writes: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith("SELECT"):
            writes.append(" ".join(statement.split()))

    try:
        assert sweeper.sweep().inspected == len(names)
        event.listen(fleet.ctx.engine, "before_cursor_execute", seen)
        try:
            assert sweeper.sweep().inspected == 0
        finally:
            event.remove(fleet.ctx.engine, "before_cursor_execute", seen)
    finally:
        close_sweeper(sweeper)
    changed = [w for w in writes if w.split()[0].upper() in ("UPDATE", "INSERT", "DELETE")]
    assert len(changed) == 1 and "RETURNING" in changed[0]  # the claim, which found nothing
    assert fleet.leases() == 0


def test_a_claim_moves_the_next_check_to_the_lease_end_and_a_stopped_sweep_moves_it_back(
    db_url: str, tmp_path: Path, sim: Simulator
) -> None:
    """Like a queue's visibility timeout: a claimed token is not due while its lease runs (the next claim
    does not read it), falls due again when the lease ends (its daemon died) and is claimed by another
    owner then; the tokens a stopped sweep leased and never answered are due again at once."""
    from monitor.check import store
    from monitor.db.session import transaction

    fleet = make_fleet(tmp_path, db_url, sim)
    try:
        fleet.add_app("a")
        names = fleet.add_tokens("a", 4)
        fleet.make_due()
        now = time.time()
        with transaction(fleet.ctx.sessions) as s:
            first = {c.name for c in store.claim_due(s, "dead", now, 60.0, 2)}
        assert len(first) == 2
        rows = fleet.rows()
        assert all(rows[n].next_check_at == now + 60.0 == rows[n].lease_expires_at for n in first)
        with transaction(fleet.ctx.sessions) as s:
            second = {c.name for c in store.claim_due(s, "other", now + 1, 60.0, 10)}
            assert store.claim_due(s, "third", now + 59, 60.0, 10) == []
        assert second == set(names) - first  # the first two are in flight: not due, not read
        with transaction(fleet.ctx.sessions) as s:  # "dead" never answered: its tokens come back
            assert {c.name for c in store.claim_due(s, "other", now + 61, 60.0, 10)} == first
        # A sweep stopped before any answer releases what it leased, due again at once.
        with transaction(fleet.ctx.sessions) as s:
            store.release(s, "other")
        fleet.make_due()
        sim.set_fault("latency", seconds=0.3)
        sweeper = fleet.sweeper(owner="s", concurrency=1, retries=0)
        worker = threading.Thread(target=sweeper.sweep)
        try:
            worker.start()
            deadline = time.monotonic() + 10
            while fleet.leases() < len(names) and time.monotonic() < deadline:
                time.sleep(0.01)  # until the sweep holds every token
            sweeper.stop()
            worker.join(15)
        finally:
            close_sweeper(sweeper)
        assert not worker.is_alive()
        rows = fleet.rows()
        unanswered = [n for n in names if rows[n].lease_owner is None and rows[n].last_check_at is None]
        assert unanswered and all(rows[n].next_check_at <= time.time() for n in unanswered)
        assert sweeper.holding == set()
    finally:
        fleet.close()


def test_a_token_written_to_during_its_check_still_gets_its_answer(
    db_url: str, tmp_path: Path, sim: Simulator
) -> None:
    """On PostgreSQL the result is written where the claim left the row (its ctid); a write meanwhile (a
    label, a mute, a queued recheck) moves the row, and the result then finds it by id: stored all the same,
    its lease released, the other write kept."""

    fleet = make_fleet(tmp_path, db_url, sim)
    try:
        fleet.add_app("a")
        names = fleet.add_tokens("a", 5)
        touched = fleet.rows()[names[1]].id
        sweeper = fleet.sweeper(owner="s")
        write_during_check(fleet, sweeper, touched, labels={"team": "moved"})
        try:
            assert sweeper.sweep().inspected == len(names)
        finally:
            close_sweeper(sweeper)
        rows = fleet.rows()
        assert all(rows[n].last_result == "valid" and rows[n].next_check_at > time.time() for n in names)
        assert rows[names[1]].labels == {"team": "moved"}
        assert fleet.leases() == 0
    finally:
        fleet.close()
