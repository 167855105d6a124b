"""[heartbeat] (SPEC 17): the push-monitor convention of Healthchecks and Uptime Kuma, for teams without
Prometheus. `URL/start` when the daemon starts; then, every `interval`, `URL/fail` if a job failed since the
last beat, `URL` if none did and a sweep completed recently, and nothing otherwise (the monitor's own
deadline raises the alarm when the daemon stops, hangs or the host dies).

Every call is bounded (monitor.net: a total deadline and a size cap) and the URL, a credential, is never
logged: its failures are reported by their kind only, and the URL is one of the configuration's secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from monitor import __version__
from monitor.config.load import Config, HeartbeatConfig
from monitor.daemon.jobhealth import JobHealth
from monitor.jobs import Job
from monitor.net import BoundedSession
from monitor.redact import error_line, url_secrets

__all__ = ["HEARTBEAT", "Heartbeat", "ping_url"]

log = logging.getLogger("monitor.heartbeat")

HEARTBEAT = "heartbeat"  # the job's name: its own failures are not news for the heartbeat
MAX_ANSWER = 64 * 1024  # Healthchecks answers "OK"
DEFAULT_INTERVAL = 60.0  # the job's interval while no [heartbeat] is configured (a reload may add one)


def ping_url(url: str, signal: str) -> str:
    """`url` with "/start" or "/fail" (or nothing) added to its path, its query string kept."""
    if not signal:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + signal))


@dataclass(frozen=True)
class HeartbeatSettings:
    """What the heartbeat reads of a configuration: its [heartbeat] table (None: absent) and the sweep's
    interval (how late a sweep may be before success is no longer reported)."""

    heartbeat: HeartbeatConfig | None
    sweep_interval: float

    @classmethod
    def of(cls, config: Config) -> HeartbeatSettings:
        return cls(config.heartbeat, config.schedule.sweep_interval)


class Heartbeat:
    """The `heartbeat` job; a daemon component (reload, stop, close). Idle while [heartbeat] is absent."""

    def __init__(
        self,
        settings: HeartbeatSettings,
        *,
        health: JobHealth,
        session: Callable[[], BoundedSession] = BoundedSession,
    ) -> None:
        self.health = health
        self.settings: HeartbeatConfig | None = settings.heartbeat
        self.sweep_interval = settings.sweep_interval
        self.session = session()
        self.started = False
        self.stopped = False

    def jobs(self) -> list[Job]:
        interval = self.settings.interval if self.settings is not None else DEFAULT_INTERVAL
        return [Job(HEARTBEAT, self.beat, interval)]

    def reload(self, settings: HeartbeatSettings) -> None:
        self.settings, self.sweep_interval = settings.heartbeat, settings.sweep_interval

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.session.close()

    def beat(self) -> None:
        """One interval's report: start (the first run), fail, success, or nothing."""
        settings = self.settings
        failed = sorted(self.health.take_failures() - {HEARTBEAT})
        if settings is None or self.stopped:
            return
        if not self.started:
            self.started = True
            self._ping(settings, "start")
            return
        if failed:
            log.warning("heartbeat: reporting a failure (failed since the last beat: %s)", ", ".join(failed))
            self._ping(settings, "fail")
        elif self.health.sweep_kept_up(within=max(3 * self.sweep_interval, 2 * settings.interval)):
            self._ping(settings, "")
        else:
            log.warning("heartbeat: no sweep completed lately; not reporting success")

    def _ping(self, settings: HeartbeatConfig, signal: str) -> None:
        """One bounded GET; a failure is logged (without the URL) and never raised: the heartbeat's own
        trouble shows at the push monitor as missed beats."""
        try:
            reply = self.session.request(
                "GET",
                ping_url(settings.url, signal),
                deadline=settings.timeout,
                max_bytes=MAX_ANSWER,
                headers={"User-Agent": f"threads-token-monitor/{__version__}"},
            )
        except Exception as exc:  # any failure of one ping: logged, the next beat tries again
            error = error_line(exc, url_secrets(settings.url))
            log.warning("heartbeat %s failed: %s", signal or "ping", error)
            return
        if reply.status >= 400:
            log.warning("heartbeat %s: the receiver answered HTTP %d", signal or "ping", reply.status)
