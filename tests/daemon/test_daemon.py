"""The daemon and the `check`/`run` commands against the simulator: faults never crash it or lose a token,
SQLite allows one daemon per file, SIGTERM/SIGINT stop it cleanly, and no secret is ever printed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet, scan_secrets  # noqa: F401 - scan_secrets is a fixture
from sqlalchemy import func, select
from support import STOP_DEADLINE, wait_until

from monitor.cli import main
from monitor.daemon.lifecycle import Daemon
from monitor.db.models import Snapshot, Token
from monitor.simulator import DAY, Simulator

pytestmark = pytest.mark.usefixtures("scan_secrets")

FAULTS: dict[str, dict] = {
    "latency": {"seconds": 0.2},
    "http_error": {"status": 503},
    "malformed": {},
    "truncated": {},
    "reset": {},
    "oversized": {"size": 1_500_000},
    "trickle": {"bytes_per_second": 20},
    "throttle": {"code": 4, "percent": 100, "minutes": 0},
}


def add_faulty(fleet: Fleet) -> list[str]:
    """One token per fault kind in app "ok"; the throttled one in an app of its own (throttling pauses it)."""
    fleet.add_app("hot")
    names = []
    for i, kind in enumerate(FAULTS):
        name = fleet.add_tokens("hot" if kind == "throttle" else "ok", 1, prefix=f"faulty-{i:05d}")[0]
        fleet.sim.set_fault(kind, token=fleet.tokens[name], **FAULTS[kind])
        names.append(name)
    return names


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def checked(fleet: Fleet, since: float = 0.0) -> int:
    with fleet.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Token).where(Token.last_check_at >= since)) or 0)


# --- check ---------------------------------------------------------------------------------------------


def test_check_prints_stores_and_sets_the_exit_code(
    tmp_path: Path, sqlite_url: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim)
    try:
        fleet.add_app("acme")
        fine = fleet.add_tokens("acme", 2, prefix="fine")
        soon = fleet.add_tokens(
            "acme", 1, prefix="soon", expires_at=time.time() + 5 * DAY
        )  # inside 7d warning
        dead = fleet.add_tokens("acme", 1, prefix="dead", state="revoked")
        cfg = ["--config", str(fleet.config_path)]
        capsys.readouterr()

        assert main([*cfg, "check", *fine]) == 0
        out = capsys.readouterr().out
        assert all(n in out for n in fine) and "soon" not in out
        assert main([*cfg, "check", soon[0]]) == 1
        assert soon[0] in capsys.readouterr().out
        assert main([*cfg, "check", dead[0]]) == 1
        out = capsys.readouterr().out
        assert dead[0] in out and "revoked" in out
        assert main([*cfg, "check", "--all"]) == 1
        out = capsys.readouterr().out
        assert all(n in out for n in fleet.tokens)
        assert main([*cfg, "check", "--all", "--json"]) == 1
        assert main([*cfg, "check", "no-such-token"]) == 2
        capsys.readouterr()
        # Every check was stored; one snapshot per token since nothing changed between checks.
        assert set(fleet.snapshot_counts().values()) == {1}
        rows = fleet.rows()
        assert rows[dead[0]].invalid_reason == "revoked" and rows[fine[0]].is_valid is True
        assert fleet.calls()[fine[0]] == 3 and fleet.leases() == 0
    finally:
        fleet.close()


def test_check_counts_a_token_a_daemon_holds_by_its_stored_state(
    tmp_path: Path, sqlite_url: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --all` while a daemon holds the revoked token: skipped, but the exit code still says trouble."""
    from sqlalchemy import update

    from monitor.db.models import Token
    from monitor.db.session import transaction

    fleet = make_fleet(tmp_path, sqlite_url, sim)
    try:
        fleet.add_app("acme")
        fine = fleet.add_tokens("acme", 1, prefix="fine")
        dead = fleet.add_tokens("acme", 1, prefix="dead", state="revoked")
        cfg = ["--config", str(fleet.config_path)]
        assert main([*cfg, "check", "--all"]) == 1  # the revoked token is now stored as invalid
        with transaction(fleet.ctx.sessions) as s:
            s.execute(
                update(Token)
                .where(Token.name == dead[0])
                .values(lease_owner="another-daemon", lease_expires_at=time.time() + 300)
            )
        capsys.readouterr()
        assert main([*cfg, "check", "--all"]) == 1
        captured = capsys.readouterr()
        assert fine[0] in captured.out and f"{dead[0]}: skipped" in captured.err
    finally:
        fleet.close()


def test_check_with_a_broken_inspector_makes_one_probe_call(
    tmp_path: Path, sqlite_url: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim)
    try:
        fleet.add_app("dev", state="dev_mode")
        names = fleet.add_tokens("dev", 30)
        assert main(["--config", str(fleet.config_path), "check", "--all"]) == 1
        out = capsys.readouterr().out
        assert all(n in out for n in names)
        assert sum(fleet.calls().values()) == 1
        assert {r.last_result for r in fleet.rows().values()} == {"inspector"}
    finally:
        fleet.close()


# --- the daemon in-process -----------------------------------------------------------------------------


def test_no_fault_crashes_the_daemon_or_loses_a_token(
    tmp_path: Path, sqlite_url: str, sim: Simulator
) -> None:
    fleet = make_fleet(
        tmp_path,
        sqlite_url,
        sim,
        threads={"timeout": "0.5s", "retries": 1, "concurrency": 8},
        schedule={"min_check_interval": "1s", "max_check_interval": "60s", "sweep_interval": "1s"},
    )
    daemon = None
    try:
        fleet.add_app("ok")
        fleet.add_app("dev", state="dev_mode")
        fleet.add_app("bad", state="invalid")
        for state in ("valid", "expired", "password_changed", "revoked", "garbage"):
            fleet.add_tokens("ok", 3, state=state)
        fleet.add_tokens("dev", 5)
        fleet.add_tokens("bad", 5)
        faulty = add_faulty(fleet)
        started = time.time()
        daemon = Daemon(fleet.config)
        daemon.start()
        health: list[bool] = []

        def faulty_checked_thrice() -> bool:
            health.append(daemon.health()[0])
            rows = fleet.rows()
            return all(r.last_check_at is not None for r in rows.values()) and all(
                fleet.calls([n])[n] >= 3 for n in faulty if not n.startswith(("faulty-00000", "faulty-00007"))
            )

        wait_until(faulty_checked_thrice, 30, "every token checked and each faulty one retried")
        assert all(health), "health went bad during faults"
        ok, detail = daemon.health()
        assert ok and detail["sweeps"] >= 3
    finally:
        if daemon is not None:
            daemon.stop()
        rows = fleet.rows()
        fleet.close()
    assert all(r.lease_owner is None for r in rows.values())
    assert all(r.next_check_at is not None and r.next_check_at > started for r in rows.values())
    results = {r.name: r.last_result for r in rows.values()}
    assert {results[n] for n in rows if n.startswith("ok-valid")} == {"valid"}
    assert {results[n] for n in rows if n.startswith(("dev-", "bad-"))} == {"inspector"}
    assert results["faulty-00000-00000"] == "valid"  # latency alone is no failure
    assert results["faulty-00007-00000"] == "throttled"
    assert {results[f"faulty-{i:05d}-00000"] for i in range(1, 7)} == {"error"}


# --- the daemon as a process ---------------------------------------------------------------------------


def test_a_second_daemon_on_one_sqlite_file_is_refused(
    tmp_path: Path, sqlite_url: str, sim: Simulator
) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim)
    fleet.add_app("a")
    fleet.add_tokens("a", 3)
    fleet.close()
    with DaemonProcess(fleet.config_path, tmp_path / "first.log") as first:
        wait_until(lambda: "started" in first.output(), 20, "the first daemon to start")
        second = DaemonProcess(fleet.config_path, tmp_path / "second.log")
        rc = second.wait(20)
        second.stop()
        assert rc != 0
        message = second.output()
        assert "another threads-token-monitor daemon is already running" in message
        assert "one daemon per database file" in message
        assert first.proc.poll() is None, "the first daemon keeps running"
        assert first.stop() == 0
    assert not leaked(first.output() + message)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_sweep_exits_0_without_leases(
    tmp_path: Path, sqlite_url: str, sim: Simulator, signum: int
) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim, threads={"concurrency": 4})
    try:
        fleet.add_app("a")
        fleet.add_tokens("a", 400)
        # 4 checks at a time, 0.25 s each: the 360 tokens after the first 40 take 22.5 s, longer than
        # STOP_DEADLINE. A daemon that exits in time has stopped mid-sweep, whatever the machine's load.
        sim.set_fault("latency", seconds=0.25)
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log") as daemon:
            wait_until(lambda: checked(fleet) >= 40, 60, "the sweep to be under way")
            assert fleet.leases() > 0, "leases are held: the sweep is in progress"
            daemon.send(signum)
            rc = daemon.wait(STOP_DEADLINE)
        assert rc == 0
        assert fleet.leases() == 0
        assert checked(fleet) < 400, "stopped before the sweep was over"
        rows = fleet.rows().values()
        assert all(r.next_check_at is not None for r in rows)
        assert "stopping" in daemon.output() and "stopped" in daemon.output()
        assert not leaked(daemon.output())
    finally:
        fleet.close()


def test_no_secret_in_any_daemon_or_cli_output(
    tmp_path: Path, sqlite_url: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon at DEBUG, every classification and fault, the CLI: no token or inspector string shows."""
    fleet = make_fleet(
        tmp_path,
        sqlite_url,
        sim,
        threads={"timeout": "0.5s", "retries": 1},
        schedule={"min_check_interval": "1s", "max_check_interval": "60s"},
    )
    try:
        fleet.add_app("ok")
        fleet.add_app("dev", state="dev_mode")
        fleet.add_app("bad", state="invalid")
        for state in ("valid", "expired", "password_changed", "revoked", "garbage"):
            fleet.add_tokens("ok", 2, state=state)
        fleet.add_tokens("dev", 2)
        fleet.add_tokens("bad", 2)
        add_faulty(fleet)
        cfg = ["--config", str(fleet.config_path)]
        assert main([*cfg, "check", "--all"]) == 1
        assert main([*cfg, "check", "--all", "--json"]) == 1
        assert main([*cfg, "tokens", "list"]) == 0
        assert main([*cfg, "status"]) == 0
        cli = capsys.readouterr()
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log") as daemon:
            wait_until(lambda: "sweep: inspected" in daemon.output(), 30, "a sweep")
        output = daemon.output()
        assert "monitor.daemon: stopped" in output
        assert "ok-valid-00000" in cli.out and "error" in cli.out
        assert not leaked(output), "a secret appeared in the daemon's output"
        assert not leaked(cli.out + cli.err), "a secret appeared in the CLI output"
        # The stored history carries fingerprints and API messages, never the strings themselves.
        with fleet.ctx.sessions() as s:
            text = " ".join(
                str(v) for row in s.execute(select(Snapshot)).all() for v in row[0].__dict__.values()
            )
            text += " ".join(str(r.last_error) for r in s.scalars(select(Token)))
        assert not leaked(text)
    finally:
        fleet.close()
