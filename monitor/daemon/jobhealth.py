"""What the daemon counts about itself (SPEC 17): its jobs' runs and last successes, its sweeps, its reloads.

The daemon's job guard reports every run here (`JobHealth.ran`); the heartbeat asks what happened since it
last asked (`take_failures`, `sweep_kept_up`). The series live on the registry the daemon gives:

    threads_monitor_job_runs_total{job,outcome="ok|error"}     0 for every scheduled job from the start
    threads_monitor_job_last_success_timestamp_seconds{job}    the daemon's start until a first success
    threads_monitor_job_interval_seconds{job}                  what "3 intervals without success" counts in
    threads_monitor_last_sweep_timestamp_seconds               when the last sweep completed
    threads_monitor_config_last_reload_successful              1, or 0 after a refused SIGHUP
    threads_monitor_config_last_reload_success_timestamp_seconds
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from monitor.jobs import Job
from monitor.redact import error_line

__all__ = ["SWEEP", "JobHealth", "ReloadStatus"]

SWEEP = "sweep"
OUTCOMES = ("ok", "error")

log = logging.getLogger("monitor.daemon")  # the guard's lines read as the daemon's, as they always did


class JobHealth:
    """Runs per job and outcome, last success per job, last completed sweep; failures since last asked."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float], started: float) -> None:
        self.clock, self.started = clock, started
        self.runs = Counter(
            "threads_monitor_job_runs", "Runs of the daemon's jobs by outcome.", ["job", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.last_success = Gauge(
            "threads_monitor_job_last_success_timestamp_seconds",
            "When the job last ran without error (the daemon's start until it first does).",
            ["job"],
            registry=registry,
        )
        self.interval = Gauge(
            "threads_monitor_job_interval_seconds",
            "How often the job is scheduled (seconds).",
            ["job"],
            registry=registry,
        )
        self.last_sweep = Gauge(
            "threads_monitor_last_sweep_timestamp_seconds",
            "When the last sweep over due tokens completed (the daemon's start until one does).",
            registry=registry,
        )
        self.last_sweep.set(started)
        self._swept_at = started
        self._known: set[str] = set()
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def schedule(self, jobs: Iterable[Job]) -> None:
        """The jobs as scheduled (at start and after a reload): new ones start at 0 runs, succeeded at the
        daemon's start."""
        for job in jobs:
            self.interval.labels(job.name).set(job.interval)
            if job.name not in self._known:
                self._known.add(job.name)
                for outcome in OUTCOMES:
                    self.runs.labels(job.name, outcome)
                self.last_success.labels(job.name).set(self.started)

    def guard(self, job: Job) -> Callable[[], None]:
        """`job.func` inside the daemon's one catch-and-log boundary, each run counted: one failing job, a
        database outage or a bad API answer is logged and retried on the next tick, never fatal."""

        def run() -> None:
            try:
                job.func()
            except Exception as exc:  # the boundary: log, keep the scheduler alive, retry next tick
                log.error("job %s failed: %s", job.name, error_line(exc))
                self.ran(job.name, ok=False)
            else:
                self.ran(job.name, ok=True)

        run.__name__ = job.name
        return run

    def ran(self, name: str, ok: bool) -> None:
        """One finished run of job `name` (ok: it returned; else it raised)."""
        self.runs.labels(name, "ok" if ok else "error").inc()
        if not ok:
            with self._lock:
                self._failed.add(name)
            return
        now = self.clock()
        self.last_success.labels(name).set(now)
        if name == SWEEP:
            self._swept_at = now
            self.last_sweep.set(now)

    def take_failures(self) -> set[str]:
        """The jobs that failed since the last call (and forget them)."""
        with self._lock:
            failed, self._failed = self._failed, set()
        return failed

    def sweep_kept_up(self, within: float) -> bool:
        """Whether a sweep completed in the last `within` seconds."""
        return self.clock() - self._swept_at <= within


class ReloadStatus:
    """Whether the last reload was applied, and when one last was (the start counts as one)."""

    def __init__(self, registry: CollectorRegistry, *, started: float) -> None:
        self.successful = Gauge(
            "threads_monitor_config_last_reload_successful",
            "1 if the last configuration reload (SIGHUP) was applied, 0 if it was refused.",
            registry=registry,
        )
        self.success_time = Gauge(
            "threads_monitor_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (at start, or by a reload).",
            registry=registry,
        )
        self.successful.set(1)
        self.success_time.set(started)

    def reloaded(self, ok: bool, now: float) -> None:
        self.successful.set(1 if ok else 0)
        if ok:
            self.success_time.set(now)
