"""The daemon's lifecycle: start the scheduler and the endpoint, run jobs, reload on SIGHUP, stop cleanly.

The parts are built in components.py, timed in scheduling.py, and a reload's refusal is reloading.py's. Every
job runs inside one catch-and-log boundary (`JobHealth.guard`, which counts each run): one failing job, a
database outage or a bad API answer is logged and retried on the next tick, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor import __version__
from monitor.check.observe import Cadence
from monitor.check.settings import SweepSettings
from monitor.config.load import Config
from monitor.config.secret_values import all_secrets
from monitor.crypto import Vault
from monitor.daemon.components import Wired, build_checking, build_components, start_web
from monitor.daemon.errors import DaemonError
from monitor.daemon.heartbeat import Heartbeat, HeartbeatSettings
from monitor.daemon.jobhealth import JobHealth, ReloadStatus
from monitor.daemon.logs import follow_config_level
from monitor.daemon.reloading import reload_config
from monitor.daemon.scheduling import quiet_library_logs, reschedule, start_scheduler, start_watchdog
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.signals import run_until_signalled
from monitor.daemon.sweeping import prune_once, sweep_once
from monitor.daemon.watchdog import Liveness, health_report
from monitor.db.leases import owner_of
from monitor.db.locks import SqliteLock
from monitor.db.migrate import ensure_current
from monitor.db.session import Database, sqlite_path
from monitor.jobs import Job
from monitor.metrics.exposition import Events, MetricsInputs, MetricsRegistry, MetricsSettings, build_metrics
from monitor.redact import error_line, protect_logs
from monitor.state import Horizons
from monitor.web.server import WebServer

log = logging.getLogger("monitor.daemon")

__all__ = ["Daemon", "DaemonError", "cadence_of"]


def cadence_of(config: Config) -> Cadence:
    return SweepSettings.of(config).cadence


class Daemon:
    """One monitor process. `start()` returns once everything runs; `run()` blocks until a signal.

    It owns the engine, session factory, vault and clock, and hands each component what it uses and its own
    settings; a reload gives each its part of the new configuration through its `reload` method."""

    def __init__(
        self, config: Config, *, clock: Callable[[], float] = time.time, notify_stream: Any = None
    ) -> None:
        self.config, self.clock = config, clock
        self.db = Database(config.database.url, pool_size=config.database.pool_size)  # opened on first use
        self.horizons = Horizons.from_alerts(config.alerts)
        self.vault: Vault | None = None  # read at start: a wrong key is a start-up error, not a per-check one
        self.owner = owner_of(instance=uuid.uuid4().hex[:8])
        self.notify_stream = notify_stream
        self.sd = SdNotifier()
        watchdog = self.sd.watchdog_interval()
        self.liveness = Liveness(stall_after=(watchdog or 120.0))
        self.stopped = threading.Event()
        self._lock: SqliteLock | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._components: list[Wired[Any]] = []
        self.web: WebServer | None = None
        self.metrics: MetricsInputs | None = None
        self.registry: MetricsRegistry | None = None
        self.events: Events | None = None

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.db.sessions

    # --- start -------------------------------------------------------------------------------------

    def start(self) -> None:
        quiet_library_logs()
        path = sqlite_path(self.config.database.url)
        if path is not None:
            self._lock = SqliteLock(path)
            self._lock.acquire()
        try:
            self._start()
        except BaseException:
            self._abort_start()
            raise
        self.sd.ready(f"watching tokens; metrics on {self.config.http.listen}")
        log.info("threads-token-monitor %s started (instance %s)", __version__, self.owner)

    def _start(self) -> None:
        ensure_current(self.engine)  # refuse a database that is not migrated to head
        vault = self.vault = Vault(self.config.security.key_files)
        self.metrics = MetricsInputs(self.engine, MetricsSettings.of(self.config), clock=self.clock)
        registry, events = build_metrics(self.metrics, version=__version__)
        assert isinstance(registry, MetricsRegistry)  # build_metrics without a registry makes one
        self.registry, self.events, live = registry, events, registry.live
        self.job_health = JobHealth(live, clock=self.clock, started=self.clock())
        self.reloads = ReloadStatus(live, started=self.clock())
        checking = build_checking(
            self.config,
            sessions=self.sessions,
            vault=vault,
            clock=self.clock,
            owner=self.owner,
            on_api_response=events.api,
            on_check=events.check,
            on_progress=self.liveness.beat,
        )
        self.client, self.budget, self.sweeper = checking.client, checking.budget, checking.sweeper
        self._components = build_components(
            self.config,
            sessions=self.sessions,
            vault=vault,
            clock=self.clock,
            owner=self.owner,
            client=self.client,
            sweeper=self.sweeper,
            budget=self.budget,
            events=events,
            notify_stream=self.notify_stream,
            registry=live,
        )
        heartbeat = Heartbeat(HeartbeatSettings.of(self.config), health=self.job_health)
        self._components.append(Wired(heartbeat, HeartbeatSettings.of))
        # The endpoint binds first: a port in use is a clear start-up error before any job runs.
        self.web = start_web(
            self.config,
            registry=registry,
            health=self.health,
            sessions=self.sessions,
            horizons=self.horizons,
            clock=self.clock,
        )
        self._scheduler = start_scheduler(self._jobs(), self.job_health)
        start_watchdog(self.sd, self.liveness, self._scheduler_running, self.stopped)

    def _abort_start(self) -> None:
        """Undo a partial start so a failed start leaves no thread, port or lock behind."""
        if self.web is not None:
            self.web.stop()
        for comp in self._components:
            comp.close()
        if getattr(self, "sweeper", None) is not None:
            self.sweeper.close()
        if getattr(self, "client", None) is not None:
            self.client.close()
        self.db.close()
        if self._lock is not None:
            self._lock.release()

    def _jobs(self) -> list[Job]:
        jobs = [
            Job("sweep", self._sweep, self.config.schedule.sweep_interval),
            Job("prune", self._prune, 86400, first_delay=60),
        ]
        for comp in self._components:
            jobs.extend(comp.jobs())
        return jobs

    def _scheduler_running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    # --- jobs --------------------------------------------------------------------------------------

    def _sweep(self) -> None:
        sweep_once(self.sweeper, self.liveness, self.sd, self.config.threads.max_calls_per_hour)

    def _prune(self) -> None:
        prune_once(self.sessions, self.clock() - self.config.schedule.retention)

    # --- health, reload, stop ----------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        scheduler_ok = self._scheduler is not None and self._scheduler.running and not self.stopped.is_set()
        return health_report(scheduler_ok, self.engine, self.liveness, __version__)

    def reload(self, path: str | os.PathLike[str]) -> bool:
        """Re-read the config: notifiers and thresholds change in place. Whatever goes wrong (a file that
        cannot be read or is not valid, a component refusing the new settings) is logged and the previous
        configuration stays in force: a reload never ends the daemon."""
        return reload_config(
            path, current=self.config, apply=self._apply, reloads=self.reloads, sd=self.sd, clock=self.clock
        )

    def _apply(self, new: Config) -> None:
        """Every part gets its own settings from `new` through its `reload`; nothing is set from outside."""
        self.config, self.horizons = new, Horizons.from_alerts(new.alerts)
        self.sweeper.reload(SweepSettings.of(new))
        self.budget.reload(new.threads.max_calls_per_hour)
        if self.metrics is not None:
            self.metrics.reload(MetricsSettings.of(new))
        if self.web is not None:
            self.web.reload(self.horizons)
        if self._scheduler is not None:
            reschedule(self._scheduler, self._jobs(), self.job_health)
        follow_config_level(new.log.level)  # unless `run --log-level` pinned one
        protect_logs(all_secrets(new))
        for comp in self._components:
            comp.reload(new)

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.sd.stopping("stopping")
        self.sweeper.stop()
        for comp in self._components:  # stop claiming new work before waiting for running jobs
            comp.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        for comp in self._components:
            comp.close()
        try:
            # Each job released its own leases as it ended (the sweep's by id: a release of every lease of
            # this owner would read each of its claims since the last VACUUM again, through the lease index);
            # here only what a sweep could not release.
            self.sweeper.release_held()
        except Exception as exc:
            log.warning(
                "could not release leases on shutdown (they expire by themselves): %s", error_line(exc)
            )
        if self.web is not None:
            self.web.stop()
        self.sweeper.close()
        self.client.close()
        self.db.close()
        if self._lock is not None:
            self._lock.release()
        log.info("stopped")

    def run(self, config_path: str | os.PathLike[str] | None = None) -> int:
        """Start, then block until SIGTERM/SIGINT; SIGHUP reloads `config_path`."""
        return run_until_signalled(self, config_path)
