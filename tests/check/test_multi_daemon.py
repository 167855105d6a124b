"""Two `threads-token-monitor run` processes on one PostgreSQL database and 2,000 tokens.

The simulator (in this process) serves both daemons and counts calls per token: every token is inspected
exactly once per cycle, and after `kill -9` of one daemon mid-sweep the other inspects all of the dead one's
tokens within the lease time plus one sweep.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet, wait_until
from sqlalchemy import func, select

from monitor.db.models import Token
from monitor.simulator import Simulator

TOKENS, LEASE, SWEEP = 2000, 10.0, 1.0


@pytest.fixture
def fleet(tmp_path: Path, postgres_url: str) -> Iterator[Fleet]:
    with Simulator() as sim:
        f = make_fleet(
            tmp_path,
            postgres_url,
            sim,
            threads={"concurrency": 16},
            schedule={"lease": f"{LEASE:.0f}s", "sweep_interval": f"{SWEEP:.0f}s"},
            log={"level": "info"},
        )
        yield f
        f.close()


def checked_since(fleet: Fleet, since: float) -> int:
    with fleet.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Token).where(Token.last_check_at >= since)) or 0)


def leases_of(fleet: Fleet, pid: int) -> int:
    with fleet.ctx.sessions() as s:
        stmt = select(func.count()).select_from(Token).where(Token.lease_owner.like(f"%:{pid}:%"))
        return int(s.scalar(stmt) or 0)


def inspected_by(daemon: DaemonProcess) -> int:
    return sum(int(n) for n in re.findall(r"sweep: inspected (\d+) token", daemon.output()))


def test_two_daemons_share_2000_tokens_and_survive_a_kill(fleet: Fleet, tmp_path: Path) -> None:
    fleet.add_app("a")
    fleet.add_app("b")
    fleet.add_tokens("a", TOKENS // 2)
    fleet.add_tokens("b", TOKENS // 2)
    fleet.make_due(at=time.time() + 86400)  # nothing due until both daemons run
    fleet.sim.set_fault("latency", seconds=0.02)  # one daemon alone would need ~2.5 s per cycle
    one = DaemonProcess(fleet.config_path, tmp_path / "one.log")
    two = DaemonProcess(fleet.config_for_another_daemon("two"), tmp_path / "two.log")
    try:
        wait_until(
            lambda: "started" in one.output() and "started" in two.output(), 30, "both daemons to start"
        )
        # Cycle 1: both daemons sweep the due tokens; no token is inspected twice.
        start = time.time()
        fleet.make_due()
        wait_until(lambda: checked_since(fleet, start) == TOKENS, 60, "the first cycle")
        cycle = time.time() - start
        counts = fleet.calls()
        assert set(counts.values()) == {1}, "every token inspected exactly once"
        wait_until(lambda: inspected_by(one) + inspected_by(two) == TOKENS, 10, "both sweep summaries")
        shares = (inspected_by(one), inspected_by(two))  # how they split it is scheduling, not a contract
        assert fleet.leases() == 0
        print(f"\ncycle 1: {TOKENS} tokens, shares {shares}, {cycle:.1f} s")

        # Cycle 2: everything due again; kill -9 one daemon in the middle of its sweep.
        fleet.sim.reset_counters()
        mark = time.time()
        fleet.make_due()
        wait_until(
            lambda: checked_since(fleet, mark) >= TOKENS // 5 and leases_of(fleet, one.pid) > 0,
            30,
            "the second cycle to be under way with leases held by daemon one",
        )
        one.proc.kill()
        killed_at = time.time()
        one.wait(10)
        orphaned = leases_of(fleet, one.pid)
        wait_until(
            lambda: checked_since(fleet, mark) == TOKENS, LEASE + 30, "the survivor to finish the cycle"
        )
        took = time.time() - killed_at
        counts = fleet.calls()
        assert min(counts.values()) >= 1, "no token left unchecked"
        twice = sum(1 for n in counts.values() if n > 1)
        assert twice <= orphaned, "only tokens in flight at the kill may have been called twice"
        print(
            f"cycle 2: kill -9 with {orphaned} leased token(s); the survivor finished all in {took:.1f} s "
            f"(lease {LEASE:.0f} s + sweep interval {SWEEP:.0f} s); {twice} token(s) called twice"
        )
        assert took <= LEASE + SWEEP + max(cycle, 5.0)
        assert two.proc.poll() is None
        assert two.stop(signal.SIGTERM) == 0
        assert fleet.leases() == 0
        assert not leaked(one.output() + two.output())
    finally:
        one.stop(signal.SIGKILL)
        two.stop()
