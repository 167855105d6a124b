"""Interrupting `check --all` (the real CLI process against the simulator with latency): every answer received
is stored, the rest is released at once, the summary is printed, and the exit code says which signal; a token
another process holds is named with its holder, and a check that checked nothing fails."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet, make_fleet
from sqlalchemy import func, select, update
from support import wait_until

from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator
from monitor.timefmt import iso_utc

ROOT = Path(__file__).resolve().parents[2]
TOKENS, WORKERS = 300, 8


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def fleet(tmp_path: Path, db_url: str, sim: Simulator) -> Iterator[Fleet]:
    f = make_fleet(tmp_path, db_url, sim, threads={"concurrency": WORKERS, "retries": 0})
    f.add_app("growth")
    f.add_tokens("growth", TOKENS)
    yield f
    f.close()


def cli(fleet: Fleet, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(fleet.config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def stored(fleet: Fleet) -> int:
    with fleet.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).where(Token.last_check_at.is_not(None))) or 0)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_halfway_stores_every_answer_and_frees_the_rest(
    fleet: Fleet, sim: Simulator, signum: int, code: int
) -> None:
    sim.set_fault("latency", seconds=0.1)  # 8 workers: about 80 answers a second, 4 s for the fleet
    proc = cli(fleet, "check", "--all")
    try:
        wait_until(lambda: stored(fleet) >= 60 or proc.poll() is not None, 60, "60 answers stored")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    done = stored(fleet)
    summary = re.search(r"interrupted: (\d+) of (\d+) checked and stored; (\d+) not checked", err)
    assert summary is not None, err
    assert (int(summary[1]), int(summary[2]), int(summary[3])) == (done, TOKENS, TOKENS - done)
    assert 60 <= done < TOKENS
    asked = sum(1 for n in fleet.tokens if sim.calls(fleet.tokens[n], "debug_token"))
    assert asked - done <= WORKERS  # only calls still in flight went unstored: every answer was kept
    assert fleet.leases() == 0  # released at once, not after the 60 s lease
    assert "Traceback" not in err and out.count("\n") >= done  # the table of what was checked

    sim.clear_faults()
    again = cli(fleet, "check", "--all", "--json")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    report = json.loads(out)
    assert len(report["checked"]) == TOKENS and report["skipped"] == []
    assert stored(fleet) == TOKENS


def test_a_held_token_names_its_holder_and_checking_nothing_fails(fleet: Fleet, tmp_path: Path) -> None:
    name = next(iter(fleet.tokens))
    until = time.time() + 240
    with transaction(fleet.ctx.sessions) as s:
        s.execute(
            update(Token)
            .where(Token.name == name)
            .values(lease_owner="web-7:4242:abcd1234", lease_expires_at=until)
        )
    proc = cli(fleet, "check", name)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)  # nothing it was asked to check was checked
    assert f"{name}: skipped, held by a daemon (pid 4242 on web-7) until {iso_utc(until)} (in " in err
    assert "a daemon is checking it right now" not in err

    # A holder on this host whose process is gone is said to be gone.
    host = os.uname().nodename[:40]
    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(lease_owner=f"check:{host}:999999999:check"))
    proc = cli(fleet, "check", name, "--json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    skipped = json.loads(out)["skipped"]
    assert [s["name"] for s in skipped] == [name] and skipped[0]["held_by"].startswith("check:")
    assert "that process no longer runs" in skipped[0]["holder"]
