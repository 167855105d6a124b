"""The daemon's timetable: every job on its interval inside `JobHealth.guard` (one catch-and-log boundary
per run), new intervals after a reload, and the thread that pings systemd's watchdog while sweeps progress."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.daemon.jobhealth import JobHealth
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.watchdog import Liveness, ping_while_alive
from monitor.jobs import Job

__all__ = ["quiet_library_logs", "reschedule", "start_scheduler", "start_watchdog"]

# One run at a time per job; runs missed while one was still going collapse into one, however late.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


def quiet_library_logs() -> None:
    """APScheduler logs every run at INFO and a "skipped: maximum number of running instances" WARNING on
    every tick of a sweep that outlasts sweep_interval (normal with big fleets): neither is news. urllib3's
    DEBUG lines carry URLs with secrets."""
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def start_scheduler(jobs: list[Job], health: JobHealth) -> BackgroundScheduler:
    """A running scheduler (UTC) with every job of `jobs` guarded and counted by `health`, each first run
    after its `first_delay`."""
    health.schedule(jobs)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
    for job in jobs:
        scheduler.add_job(
            health.guard(job),
            "interval",
            seconds=job.interval,
            id=job.name,
            name=job.name,
            next_run_time=datetime.now(UTC) + timedelta(seconds=job.first_delay),
        )
    scheduler.start()
    return scheduler


def reschedule(scheduler: BackgroundScheduler, jobs: list[Job], health: JobHealth) -> None:
    """Give each scheduled job its interval from `jobs` (intervals derive from [schedule]: a reload moves
    them all)."""
    for job in jobs:
        scheduler.reschedule_job(job.name, trigger="interval", seconds=job.interval)
    health.schedule(jobs)


def start_watchdog(
    sd: SdNotifier, liveness: Liveness, running: Callable[[], bool], stopped: threading.Event
) -> None:
    """Under systemd with WatchdogSec, ping twice per interval from a thread of its own until `stopped`;
    otherwise nothing."""
    interval = sd.watchdog_interval()
    if not interval:
        return
    args = (sd, liveness, running, stopped, interval / 2)
    threading.Thread(target=ping_while_alive, args=args, name="watchdog", daemon=True).start()
