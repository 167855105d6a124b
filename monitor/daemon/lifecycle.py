"""The daemon's lifecycle: start the scheduler and the endpoint, run jobs, reload on SIGHUP, stop cleanly.

Every job runs inside one catch-and-log boundary (`JobHealth.guard`, which counts each run): one failing job,
a database outage or a bad API answer is logged and retried on the next tick, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor import __version__
from monitor.check.observe import Cadence
from monitor.check.settings import SweepSettings
from monitor.check.store import release
from monitor.check.sweep import Sweeper
from monitor.config.load import Config, ConfigError, load_config
from monitor.config.secret_values import all_secrets
from monitor.crypto import Vault
from monitor.daemon.components import Wired, build_components
from monitor.daemon.errors import DaemonError
from monitor.daemon.heartbeat import Heartbeat, HeartbeatSettings
from monitor.daemon.jobhealth import JobHealth, ReloadStatus
from monitor.daemon.logs import follow_config_level
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.signals import run_until_signalled
from monitor.daemon.sweeping import calls_in_the_last_hour, sweep_once
from monitor.daemon.watchdog import Liveness, health_report, ping_while_alive
from monitor.db.leases import owner_of
from monitor.db.locks import SqliteLock
from monitor.db.migrate import ensure_current
from monitor.db.session import Database, sqlite_path, transaction
from monitor.graph.budget import CallBudget
from monitor.graph.client import ApiUsage, GraphClient
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
        # APScheduler logs every run at INFO and a "skipped: maximum number of running instances" WARNING on
        # every tick of a sweep that outlasts sweep_interval (normal with big fleets): neither is news.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        logging.getLogger("urllib3").setLevel(logging.WARNING)  # its DEBUG lines carry URLs with secrets
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
        registry, self.events = build_metrics(self.metrics, version=__version__)
        assert isinstance(registry, MetricsRegistry)  # build_metrics without a registry makes one
        self.registry, live = registry, registry.live
        self.job_health = JobHealth(live, clock=self.clock, started=self.clock())
        self.reloads = ReloadStatus(live, started=self.clock())
        self.client = GraphClient(
            base_url=self.config.threads.base_url,
            api_version=self.config.threads.api_version,
            hosts=self.config.platforms.hosts(),
            timeout=self.config.threads.timeout,
            retries=self.config.threads.retries,
            pool_size=max(16, self.config.threads.concurrency * 2),
            on_response=self._on_api_response,
        )
        self.budget = CallBudget(self.config.threads.max_calls_per_hour)
        self.budget.preload(calls_in_the_last_hour(self.sessions, self.clock()))
        sweep = SweepSettings.of(self.config)
        self.sweeper = Sweeper(
            sessions=self.sessions,
            vault=vault,
            client=self.client,
            cadence=sweep.cadence,
            owner=self.owner,
            concurrency=self.config.threads.concurrency,
            lease=sweep.lease,
            budget=self.budget,
            retries=self.config.threads.retries,
            clock=self.clock,
            on_check=self._on_check,
            on_progress=self.liveness.beat,
            horizons=sweep.horizons,
        )
        self._components = build_components(
            self.config,
            sessions=self.sessions,
            vault=vault,
            clock=self.clock,
            owner=self.owner,
            client=self.client,
            sweeper=self.sweeper,
            budget=self.budget,
            events=self.events,
            notify_stream=self.notify_stream,
            registry=live,
        )
        heartbeat = Heartbeat(HeartbeatSettings.of(self.config), health=self.job_health)
        self._components.append(Wired(heartbeat, HeartbeatSettings.of))
        # The endpoint binds first: a port in use is a clear start-up error before any job runs.
        self.web = WebServer(
            self.config.http,
            registry=self.registry,
            health=self.health,
            sessions=self.sessions,
            horizons=self.horizons,
            clock=self.clock,
        )
        try:
            self.web.start()
        except OSError as exc:
            self.web = None
            raise DaemonError(
                f"cannot listen on {self.config.http.listen} ([http] listen): {exc.strerror or exc}"
            ) from None
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults=defaults)
        jobs = self._jobs()
        self.job_health.schedule(jobs)
        for job in jobs:
            self._scheduler.add_job(
                self.job_health.guard(job),
                "interval",
                seconds=job.interval,
                id=job.name,
                name=job.name,
                next_run_time=_utc_in(job.first_delay),
            )
        self._scheduler.start()
        self._start_watchdog()

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

    def _start_watchdog(self) -> None:
        interval = self.sd.watchdog_interval()
        if not interval:
            return
        args = (self.sd, self.liveness, self._scheduler_running, self.stopped, interval / 2)
        threading.Thread(target=ping_while_alive, args=args, name="watchdog", daemon=True).start()

    def _scheduler_running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    # --- jobs --------------------------------------------------------------------------------------

    def _sweep(self) -> None:
        sweep_once(self.sweeper, self.liveness, self.sd, self.config.threads.max_calls_per_hour)

    def _prune(self) -> None:
        from monitor.check.retention import prune

        removed = prune(self.sessions, self.clock() - self.config.schedule.retention)
        if removed:
            log.info("retention: pruned %d snapshot(s) older than the retention period", removed)

    def _on_check(self, result: str, duration: float) -> None:
        if self.events is not None:
            self.events.check(result, duration)

    def _on_api_response(self, endpoint: str, code: str, usage: ApiUsage | None) -> None:
        if self.events is not None:
            self.events.api(endpoint, code, usage)

    # --- health, reload, stop ----------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        scheduler_ok = self._scheduler is not None and self._scheduler.running and not self.stopped.is_set()
        return health_report(scheduler_ok, self.engine, self.liveness, __version__)

    def reload(self, path: str | os.PathLike[str]) -> bool:
        """Re-read the config: notifiers and thresholds change in place. Whatever goes wrong (a file that
        cannot be read or is not valid, a component refusing the new settings) is logged and the previous
        configuration stays in force: a reload never ends the daemon."""
        self.sd.reloading()
        try:
            new = load_config(os.fspath(path))
        except ConfigError as exc:
            return self._refused(f"reload refused, still running on the previous configuration:\n{exc}")
        except Exception as exc:  # the boundary: no reason to read a file may end monitoring
            return self._refused(
                f"reload refused, still running on the previous configuration: {error_line(exc)}"
            )
        old = self.config
        try:
            self._apply(new)
        except Exception as exc:
            log.error(
                "reload failed while applying %s: %s; restoring the previous configuration",
                path,
                error_line(exc),
            )
            try:
                self._apply(old)
            except Exception as again:
                log.error("restoring the previous configuration failed too: %s", error_line(again))
            return self._refused("reload refused, still running on the previous configuration")
        log.info("configuration reloaded from %s", path)
        self.reloads.reloaded(True, self.clock())
        self.sd.ready("configuration reloaded")
        return True

    def _refused(self, message: str) -> bool:
        log.error("%s", message)
        self.reloads.reloaded(False, self.clock())
        self.sd.ready("reload refused: invalid configuration (see the log)")
        return False

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
            jobs = self._jobs()
            for job in jobs:  # intervals derive from [schedule]: every job follows the new values
                self._scheduler.reschedule_job(job.name, trigger="interval", seconds=job.interval)
            self.job_health.schedule(jobs)
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
            with transaction(self.sessions) as s:
                release(s, self.owner)
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


def _utc_in(seconds: float) -> Any:
    return datetime.now(UTC) + timedelta(seconds=seconds)
