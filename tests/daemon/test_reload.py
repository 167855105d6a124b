"""SIGHUP reload in-process: what a valid new config changes at once; an invalid one changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_config

from monitor.config.load import load_config
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.daemon.lifecycle import Daemon
from monitor.db import migrate
from monitor.simulator import Simulator


def test_reload_applies_schedule_budget_and_thresholds_and_refuses_a_bad_file(
    tmp_path: Path, sqlite_url: str
) -> None:
    key = tmp_path / "secret.key"
    create_key_file(key)
    with Simulator() as sim:
        base = (
            f'[threads]\nbase_url = "{sim.url}"\nmax_calls_per_hour = 100\n[http]\nlisten = "127.0.0.1:0"\n'
        )
        path = write_config(
            tmp_path / "config.toml", sqlite_url, key, base + '[schedule]\nsweep_interval = "1s"\n'
        )
        config = load_config(path)
        ctx = Context(config)
        migrate.upgrade(ctx.engine)
        ctx.close()
        daemon = Daemon(config)
        daemon.start()
        try:
            changed = base.replace("max_calls_per_hour = 100", "max_calls_per_hour = 40")
            changed += '[schedule]\nsweep_interval = "7s"\nlease = "2m"\n'
            changed += '[alerts]\nexpiry = { warning = "9d", critical = "1d" }\n'
            write_config(path, sqlite_url, key, changed)
            assert daemon.reload(path)
            job = daemon._scheduler.get_job("sweep")  # type: ignore[union-attr]
            assert job.trigger.interval.total_seconds() == 7
            assert daemon.budget.per_hour == 40 and daemon.sweeper.lease == 120
            assert daemon.horizons.expiry_warning == 9 * 86400

            path.write_text(path.read_text() + '\n[schedule]\nsweep_interval = "soon"\n')
            assert not daemon.reload(path)
            assert daemon._scheduler.get_job("sweep").trigger.interval.total_seconds() == 7  # type: ignore[union-attr]
            assert daemon.budget.per_hour == 40
        finally:
            daemon.stop()


def test_sighup_with_any_unloadable_file_keeps_the_daemon_on_its_config(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The real daemon: a file nested too deep, a directory in the file's place, a file that is not text;
    each SIGHUP is refused with a log line and the daemon keeps serving; a good file then reloads."""
    import signal

    from helpers_daemon import DaemonProcess, make_fleet
    from support import wait_until

    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim)
        path, good = fleet.config_path, fleet.config_path.read_text(encoding="utf-8")
        health = f"http://{fleet.config.http.listen}/healthz"
        with DaemonProcess(path, tmp_path / "daemon.log") as daemon:
            wait_until(lambda: _serves(health), 30, "the daemon to serve")
            bad: list[Callable[[], None]] = [
                lambda: path.write_text(good + "x = " + "[" * 600 + "]" * 600 + "\n", encoding="utf-8"),
                lambda: (path.unlink(), path.mkdir()),
                lambda: (path.rmdir(), path.write_bytes(b"\xff\xfe[log]\n")),
            ]
            for n, make_bad in enumerate(bad, start=1):
                make_bad()
                daemon.send(signal.SIGHUP)
                wait_until(
                    lambda n=n: daemon.output().count("reload refused") >= n, 30, f"refusal {n} in the log"
                )
                assert daemon.proc.poll() is None, daemon.output()[-2000:]
                assert _serves(health)
            path.write_text(good, encoding="utf-8")
            daemon.send(signal.SIGHUP)
            wait_until(lambda: "configuration reloaded from" in daemon.output(), 30, "the good reload")
            assert daemon.proc.poll() is None
        output = daemon.output()
        fleet.close()
    assert "Traceback" not in output
    assert "nested too deeply" in output and "Is a directory" in output and "not UTF-8" in output


def test_a_reload_that_fails_to_apply_is_logged_and_the_daemon_runs_on(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure after the file was read (a component refusing the new settings) is a refused reload too."""
    key = tmp_path / "secret.key"
    create_key_file(key)
    path = write_config(tmp_path / "config.toml", sqlite_url, key, '[http]\nlisten = "127.0.0.1:0"\n')
    config = load_config(path)
    ctx = Context(config)
    migrate.upgrade(ctx.engine)
    ctx.close()
    daemon = Daemon(config)
    daemon.start()
    try:

        def broken(new: object) -> None:
            raise RuntimeError("cannot apply")

        monkeypatch.setattr(daemon._components[0].component, "reload", broken)
        assert not daemon.reload(path)
        assert "reload failed" in caplog.text and "RuntimeError: cannot apply" in caplog.text
        assert daemon.health()[0] or daemon._scheduler_running()
    finally:
        daemon.stop()


def _serves(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
