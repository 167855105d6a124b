"""JobHealth and ReloadStatus without a daemon: a clock of our own, a registry of our own."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from monitor.daemon.jobhealth import JobHealth, ReloadStatus
from monitor.jobs import Job

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def test_jobs_start_at_zero_and_succeeded_at_the_start() -> None:
    registry, clock = CollectorRegistry(), Clock()
    health = JobHealth(registry, clock=clock, started=START)
    health.schedule([Job("sweep", lambda: None, 30.0), Job("deliver", lambda: None, 2.0)])
    for job in ("sweep", "deliver"):
        for outcome in ("ok", "error"):
            labels = {"job": job, "outcome": outcome}
            assert registry.get_sample_value("threads_monitor_job_runs_total", labels) == 0.0
        assert (
            registry.get_sample_value("threads_monitor_job_last_success_timestamp_seconds", {"job": job})
            == START
        )
    assert registry.get_sample_value("threads_monitor_job_interval_seconds", {"job": "sweep"}) == 30.0
    assert registry.get_sample_value("threads_monitor_last_sweep_timestamp_seconds") == START
    clock.now += 100
    health.schedule([Job("sweep", lambda: None, 60.0)])  # a reload: new interval, history kept
    assert registry.get_sample_value("threads_monitor_job_interval_seconds", {"job": "sweep"}) == 60.0
    assert (
        registry.get_sample_value("threads_monitor_job_last_success_timestamp_seconds", {"job": "sweep"})
        == START
    )


def test_the_guard_counts_runs_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    registry, clock = CollectorRegistry(), Clock()
    health = JobHealth(registry, clock=clock, started=START)

    def broken() -> None:
        raise RuntimeError("database is gone")

    sweep, alerts = Job("sweep", lambda: None, 30.0), Job("alerts", broken, 1.0)
    health.schedule([sweep, alerts])
    clock.now += 5
    health.guard(sweep)()
    health.guard(alerts)()
    health.guard(alerts)()
    runs = "threads_monitor_job_runs_total"
    assert registry.get_sample_value(runs, {"job": "sweep", "outcome": "ok"}) == 1.0
    assert registry.get_sample_value(runs, {"job": "alerts", "outcome": "error"}) == 2.0
    success = "threads_monitor_job_last_success_timestamp_seconds"
    assert registry.get_sample_value(success, {"job": "sweep"}) == START + 5
    assert registry.get_sample_value(success, {"job": "alerts"}) == START
    assert registry.get_sample_value("threads_monitor_last_sweep_timestamp_seconds") == START + 5
    assert "job alerts failed: RuntimeError: database is gone" in caplog.text
    assert health.take_failures() == {"alerts"} and health.take_failures() == set()
    assert health.sweep_kept_up(within=10) and not health.sweep_kept_up(within=-1)
    clock.now += 60
    assert not health.sweep_kept_up(within=30)


def test_reload_status() -> None:
    registry = CollectorRegistry()
    status = ReloadStatus(registry, started=START)
    ok, at = (
        "threads_monitor_config_last_reload_successful",
        "threads_monitor_config_last_reload_success_timestamp_seconds",
    )
    assert registry.get_sample_value(ok) == 1.0 and registry.get_sample_value(at) == START
    status.reloaded(False, START + 10)
    assert registry.get_sample_value(ok) == 0.0 and registry.get_sample_value(at) == START
    status.reloaded(True, START + 20)
    assert registry.get_sample_value(ok) == 1.0 and registry.get_sample_value(at) == START + 20
