"""The daemon's lifecycle: start the scheduler and the endpoint, run jobs, reload on SIGHUP, stop cleanly.

Every job runs inside one catch-and-log boundary (`_guard`): one failing job, a database outage or a bad API
answer is logged and retried on the next tick, never fatal.
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
from sqlalchemy import text

from monitor import __version__
from monitor.check.observe import Cadence
from monitor.check.store import call_times_since, release
from monitor.check.sweep import Sweeper
from monitor.config.load import Config, ConfigError, load_config
from monitor.context import Context, all_secrets
from monitor.daemon.components import build_components
from monitor.daemon.errors import DaemonError
from monitor.daemon.logs import follow_config_level
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.signals import run_until_signalled
from monitor.daemon.watchdog import Liveness, ping_while_alive
from monitor.db.leases import owner_of
from monitor.db.session import SqliteLock, sqlite_path, transaction
from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.jobs import Component, Job
from monitor.metrics.exposition import build_metrics
from monitor.redact import error_line, protect_logs
from monitor.web.server import WebServer

log = logging.getLogger("monitor.daemon")

__all__ = ["Daemon", "DaemonError", "cadence_of"]


def cadence_of(config: Config) -> Cadence:
    s = config.schedule
    return Cadence(min_interval=s.min_check_interval, max_interval=s.max_check_interval, jitter=s.jitter)


class Daemon:
    """One monitor process. `start()` returns once everything runs; `run()` blocks until a signal."""

    def __init__(
        self, config: Config, *, clock: Callable[[], float] = time.time, notify_stream: Any = None
    ) -> None:
        self.ctx = Context(config, clock=clock)
        self.config = config
        self.owner = owner_of(instance=uuid.uuid4().hex[:8])
        self.notify_stream = notify_stream
        self.sd = SdNotifier()
        watchdog = self.sd.watchdog_interval()
        self.liveness = Liveness(stall_after=(watchdog or 120.0))
        self.stopped = threading.Event()
        self._lock: SqliteLock | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._components: list[Component] = []
        self.web: Any = None
        self.registry: Any = None
        self.events: Any = None

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
        self.ctx.require_schema()
        self.ctx.vault  # noqa: B018 - a wrong key is a start-up error, not a per-check one
        self.registry, self.events = build_metrics(self.ctx, version=__version__)
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
        self.budget.preload(self._calls_in_the_last_hour())
        self.sweeper = Sweeper(
            sessions=self.ctx.sessions,
            vault=self.ctx.vault,
            client=self.client,
            cadence=cadence_of(self.config),
            owner=self.owner,
            concurrency=self.config.threads.concurrency,
            lease=self.config.schedule.lease,
            budget=self.budget,
            retries=self.config.threads.retries,
            clock=self.ctx.clock,
            on_check=self._on_check,
            on_progress=self.liveness.beat,
            horizons=self.ctx.horizons,
        )
        self._components = build_components(
            self.ctx,
            self.config,
            owner=self.owner,
            client=self.client,
            sweeper=self.sweeper,
            budget=self.budget,
            events=self.events,
            notify_stream=self.notify_stream,
        )
        # The endpoint binds first: a port in use is a clear start-up error before any job runs.
        self.web = WebServer(self.config.http, registry=self.registry, health=self.health, ctx=self.ctx)
        try:
            self.web.start()
        except OSError as exc:
            self.web = None
            raise DaemonError(
                f"cannot listen on {self.config.http.listen} ([http] listen): {exc.strerror or exc}"
            ) from None
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults=defaults)
        for job in self._jobs():
            self._scheduler.add_job(
                self._guard(job),
                "interval",
                seconds=job.interval,
                id=job.name,
                name=job.name,
                next_run_time=_utc_in(job.first_delay),
            )
        self._scheduler.start()
        self._start_watchdog()

    def _calls_in_the_last_hour(self) -> list[float]:
        """Ages of the checks and refreshes stored in the last hour (one call each: a lower bound, retries are
        not stored). With several daemons this counts theirs too: conservative, never over the ceiling."""
        now = self.ctx.now()
        with self.ctx.sessions() as s:
            return [now - t for t in call_times_since(s, now - 3600)]

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
        self.ctx.close()
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

    def _guard(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            try:
                job.func()
            except Exception as exc:  # the boundary: log, keep the scheduler alive, retry next tick
                log.error("job %s failed: %s", job.name, error_line(exc))

        run.__name__ = job.name
        return run

    def _sweep(self) -> None:
        self.liveness.sweep_started()
        try:
            stats = self.sweeper.sweep()
        finally:
            self.liveness.sweep_finished()
        if stats.inspected or stats.deferred:
            summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.results.items()))
            log.info(
                "sweep: inspected %d token(s) (%s)%s",
                stats.inspected,
                summary or "-",
                f", {stats.deferred} deferred" if stats.deferred else "",
            )
            self.sd.status(f"last sweep inspected {stats.inspected} token(s)")
        if stats.budget_exhausted:
            log.warning(
                "max_calls_per_hour (%d) reached: due checks wait for the budget",
                self.config.threads.max_calls_per_hour,
            )

    def _prune(self) -> None:
        from monitor.check.retention import prune

        removed = prune(self.ctx.sessions, self.ctx.now() - self.config.schedule.retention)
        if removed:
            log.info("retention: pruned %d snapshot(s) older than the retention period", removed)

    def _on_check(self, result: str, duration: float) -> None:
        if self.events is not None:
            self.events.check(result, duration)

    def _on_api_response(self, endpoint: str, code: str, usage: Any) -> None:
        if self.events is not None:
            self.events.api(endpoint, code, usage)

    # --- health, reload, stop ----------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        scheduler_ok = self._scheduler is not None and self._scheduler.running and not self.stopped.is_set()
        try:
            with self.ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_ok = True
        except Exception:
            db_ok = False
        ok = scheduler_ok and db_ok and self.liveness.alive()
        return ok, {
            "status": "ok" if ok else "unhealthy",
            "scheduler": scheduler_ok,
            "database": db_ok,
            "sweeping": self.liveness.sweeping(),
            "sweeps": self.liveness.sweeps,
            "version": __version__,
        }

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
        self.sd.ready("configuration reloaded")
        return True

    def _refused(self, message: str) -> bool:
        log.error("%s", message)
        self.sd.ready("reload refused: invalid configuration (see the log)")
        return False

    def _apply(self, new: Config) -> None:
        self.config = new
        self.ctx.config = new
        self.ctx.__dict__.pop("horizons", None)
        self.sweeper.horizons, self.sweeper.cadence = self.ctx.horizons, cadence_of(new)
        self.budget.per_hour = new.threads.max_calls_per_hour
        self.sweeper.lease = new.schedule.lease
        if self._scheduler is not None:
            for job in self._jobs():  # intervals derive from [schedule]: every job follows the new values
                self._scheduler.reschedule_job(job.name, trigger="interval", seconds=job.interval)
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
            with transaction(self.ctx.sessions) as s:
                release(s, self.owner)
        except Exception as exc:
            log.warning(
                "could not release leases on shutdown (they expire by themselves): %s", error_line(exc)
            )
        if self.web is not None:
            self.web.stop()
        self.sweeper.close()
        self.client.close()
        self.ctx.close()
        if self._lock is not None:
            self._lock.release()
        log.info("stopped")

    def run(self, config_path: str | os.PathLike[str] | None = None) -> int:
        """Start, then block until SIGTERM/SIGINT; SIGHUP reloads `config_path`."""
        return run_until_signalled(self, config_path)


def _utc_in(seconds: float) -> Any:
    return datetime.now(UTC) + timedelta(seconds=seconds)
