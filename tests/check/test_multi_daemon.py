"""Two `threads-token-monitor run` processes on one PostgreSQL database and 2,000 tokens.

The simulator (in this process) serves both daemons and counts calls per token: every token is inspected
exactly once per cycle, and after `kill -9` of one daemon mid-sweep the other inspects all of the dead one's
tokens, each once its lease has run out (never while the dead daemon's lease still held it).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet
from sqlalchemy import func, select
from support import wait_until

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
    return len(leased_by(fleet, pid))


def leased_by(fleet: Fleet, pid: int) -> dict[str, float]:
    """The tokens whose lease process `pid` holds: name -> when the lease runs out."""
    with fleet.ctx.sessions() as s:
        stmt = select(Token.name, Token.lease_expires_at).where(Token.lease_owner.like(f"%:{pid}:%"))
        return {name: float(until) for name, until in s.execute(stmt)}


def checked_at(fleet: Fleet, names: list[str]) -> dict[str, float | None]:
    with fleet.ctx.sessions() as s:
        return dict(s.execute(select(Token.name, Token.last_check_at).where(Token.name.in_(names))).all())


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
        counts = fleet.calls()
        assert set(counts.values()) == {1}, "every token inspected exactly once"
        wait_until(lambda: inspected_by(one) + inspected_by(two) == TOKENS, 10, "both sweep summaries")
        shares = (inspected_by(one), inspected_by(two))  # how they split it is scheduling, not a contract
        assert fleet.leases() == 0
        print(f"\ncycle 1: {TOKENS} tokens, shares {shares}")

        # Cycle 2: everything due again; kill -9 one daemon in the middle of its sweep.
        fleet.sim.reset_counters()
        mark = time.time()
        fleet.make_due()
        wait_until(
            lambda: checked_since(fleet, mark) >= TOKENS // 5 and leases_of(fleet, one.pid) > 0,
            30,
            "the second cycle to be under way with leases held by daemon one",
        )

        def frozen_holding_leases() -> dict[str, float]:
            one.send(signal.SIGSTOP)  # frozen, the leases it holds stay as they are until the kill
            held = leased_by(fleet, one.pid)
            if not held:
                one.send(signal.SIGCONT)
            return held

        orphans = wait_until(frozen_holding_leases, 30, "daemon one to be frozen holding leases")
        one.proc.kill()
        one.wait(10)
        wait_until(
            lambda: checked_since(fleet, mark) == TOKENS, LEASE + 60, "the survivor to finish the cycle"
        )
        counts = fleet.calls()
        assert min(counts.values()) >= 1, "no token left unchecked"
        twice = sum(1 for n in counts.values() if n > 1)
        assert orphans and twice <= len(orphans), "only tokens in flight at the kill may be called twice"
        early = {n: at for n, at in checked_at(fleet, list(orphans)).items() if at is None or at < orphans[n]}
        assert early == {}, "the survivor took over a dead daemon's token only once its lease had run out"
        print(f"cycle 2: kill -9 with {len(orphans)} leased token(s); {twice} token(s) called twice")
        assert two.proc.poll() is None
        assert two.stop(signal.SIGTERM) == 0
        assert fleet.leases() == 0
        assert not leaked(one.output() + two.output())
    finally:
        one.stop(signal.SIGKILL)
        two.stop()
