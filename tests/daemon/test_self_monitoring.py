"""Monitoring the monitor (SPEC 17) on a running daemon: job runs and last successes, the last sweep, reloads,
and the [heartbeat] pings (/start, success, /fail while the database fails, success again), its URL never
logged.

The database is made to fail by renaming the tokens table away (every job that reads tokens then raises,
as it would on a database that lost its schema or refuses the daemon), and back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers_daemon import make_fleet, new_secret, scan_secrets  # noqa: F401 - scan_secrets is a fixture
from prometheus_client import CollectorRegistry
from receivers import HttpReceiver
from support import free_port, wait_until

from monitor.config.load import HeartbeatConfig, default_config
from monitor.context import all_secrets
from monitor.daemon.heartbeat import Heartbeat, HeartbeatSettings, ping_url
from monitor.daemon.jobhealth import JobHealth
from monitor.daemon.lifecycle import Daemon
from monitor.redact import protect_logs
from monitor.simulator import Simulator

pytestmark = pytest.mark.usefixtures("scan_secrets")
DEADLINE = 30  # a bound on a hang, not a timing claim


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as http:
        yield http


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, f"{name}{labels} is not exported"
    return found


def pings(receiver: HttpReceiver, base: str) -> list[str]:
    """What the heartbeat sent, in order: "start", "fail" or "" (success)."""
    return [r.path.removeprefix(base).strip("/") for r in list(receiver.requests.items)]


def rename(db: Path, old: str, new: str) -> None:
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


def test_a_failing_job_turns_its_metric_and_the_heartbeat_within_an_interval(
    tmp_path: Path, sqlite_url: str, sim: Simulator, receiver: HttpReceiver
) -> None:
    base = f"/ping/{new_secret('hb')}"
    fleet = make_fleet(tmp_path, sqlite_url, sim, heartbeat={"url": receiver.url(base), "interval": "1s"})
    fleet.add_app("acme")
    fleet.add_tokens("acme", 3)
    daemon = Daemon(fleet.config)
    daemon.start()
    try:
        live = daemon.registry.live
        # Every job counted from 0, "succeeded" at the start, with its interval.
        for job in ("sweep", "alerts", "deliver", "heartbeat"):
            assert value(live, "threads_monitor_job_runs_total", job=job, outcome="error") == 0.0
            assert value(live, "threads_monitor_job_interval_seconds", job=job) > 0
        assert value(live, "threads_monitor_job_interval_seconds", job="sweep") == 1.0
        assert value(live, "threads_monitor_config_last_reload_successful") == 1.0

        wait_until(lambda: "" in pings(receiver, base), DEADLINE, "a success ping")
        assert pings(receiver, base)[0] == "start"
        swept = value(live, "threads_monitor_last_sweep_timestamp_seconds")
        assert swept >= value(live, "threads_monitor_job_last_success_timestamp_seconds", job="sweep")

        db = Path(sqlite_url.removeprefix("sqlite:///"))
        rename(db, "tokens", "tokens_away")
        errors = lambda: value(live, "threads_monitor_job_runs_total", job="sweep", outcome="error")  # noqa: E731
        wait_until(lambda: errors(), DEADLINE, "the sweep's failure counted")
        wait_until(lambda: "fail" in pings(receiver, base), DEADLINE, "a /fail ping")
        stuck = value(live, "threads_monitor_job_last_success_timestamp_seconds", job="sweep")

        rename(db, "tokens_away", "tokens")
        seen = len(pings(receiver, base))
        wait_until(lambda: "" in pings(receiver, base)[seen:], DEADLINE, "success again")
        last = "threads_monitor_job_last_success_timestamp_seconds"
        wait_until(lambda: value(live, last, job="sweep") > stuck, DEADLINE, "the sweep to succeed again")
        assert all(r.method == "GET" for r in receiver.requests.items)
    finally:
        daemon.stop()


def test_a_refused_reload_shows_in_the_metrics(tmp_path: Path, sqlite_url: str, sim: Simulator) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim)
    daemon = Daemon(fleet.config)
    daemon.start()
    try:
        live = daemon.registry.live
        started = value(live, "threads_monitor_config_last_reload_success_timestamp_seconds")
        good = fleet.config_path.read_text(encoding="utf-8")
        fleet.config_path.write_text(good + "\n[metrics]\nlabels = ['cost-center']\n", encoding="utf-8")
        assert not daemon.reload(fleet.config_path)
        assert value(live, "threads_monitor_config_last_reload_successful") == 0.0
        assert value(live, "threads_monitor_config_last_reload_success_timestamp_seconds") == started

        fleet.config_path.write_text(good, encoding="utf-8")
        assert daemon.reload(fleet.config_path)
        assert value(live, "threads_monitor_config_last_reload_successful") == 1.0
        assert value(live, "threads_monitor_config_last_reload_success_timestamp_seconds") >= started
    finally:
        daemon.stop()


@pytest.mark.parametrize(
    ("url", "signal", "expected"),
    [
        ("https://hc-ping.com/abc", "fail", "https://hc-ping.com/abc/fail"),
        ("https://hc-ping.com/abc/", "start", "https://hc-ping.com/abc/start"),
        ("https://hc-ping.com/abc", "", "https://hc-ping.com/abc"),
        (
            "https://kuma.example/api/push/T?status=up&msg=OK",
            "fail",
            "https://kuma.example/api/push/T/fail?status=up&msg=OK",
        ),
    ],
)
def test_ping_urls(url: str, signal: str, expected: str) -> None:
    assert ping_url(url, signal) == expected


def test_a_heartbeat_that_cannot_be_delivered_is_logged_without_its_url(
    tmp_path: Path, receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver that answers 500, then one that is gone: each beat logs a warning naming neither the URL
    nor its path, and never raises (the heartbeat's own trouble shows as missed beats)."""

    secret = new_secret("hb")
    url = receiver.url(f"/ping/{secret}")
    config = replace(default_config(), heartbeat=HeartbeatConfig(url=url, interval=1.0, timeout=2.0))
    protect_logs(all_secrets(config))  # as the daemon does at start (urllib3's own lines show the URL)
    now = [1000.0]
    health = JobHealth(CollectorRegistry(), clock=lambda: now[0], started=now[0])
    beat = Heartbeat(HeartbeatSettings.of(config), health=health)
    try:
        beat.beat()  # /start
        receiver.respond(500)
        health.ran("alerts", ok=False)
        beat.beat()  # /fail, answered 500
        assert pings(receiver, "/ping/" + secret) == ["start", "fail"]
        assert "heartbeat fail: the receiver answered HTTP 500" in caplog.text
        gone = HeartbeatConfig(url=f"http://127.0.0.1:{free_port()}/ping/{secret}", timeout=2.0)
        beat.reload(HeartbeatSettings.of(replace(config, heartbeat=gone)))
        beat.beat()  # success, to nobody
        now[0] += 3600  # no sweep for an hour: no success is reported
        beat.beat()
    finally:
        beat.close()
    own = "\n".join(r.getMessage() for r in caplog.records if r.name == "monitor.heartbeat")
    assert "heartbeat ping failed: ConnectionError" in own
    assert "no sweep completed lately" in own
    assert secret not in own and secret not in caplog.text and len(receiver.requests.items) == 2
