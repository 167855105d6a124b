"""Is the daemon making progress? Drives systemd's watchdog: no progress, no WATCHDOG=1, restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from monitor.daemon.sdnotify import SdNotifier

log = logging.getLogger("monitor.daemon")


class Liveness:
    """Tracks sweep progress: no progress for `stall_after` seconds during a sweep makes `alive()` false."""

    def __init__(self, stall_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self._clock = clock
        self._lock = threading.Lock()
        self._sweeping = False
        self._last_beat = clock()
        self.sweeps = 0

    def sweep_started(self) -> None:
        with self._lock:
            self._sweeping, self._last_beat = True, self._clock()

    def beat(self) -> None:
        with self._lock:
            self._last_beat = self._clock()

    def sweep_finished(self) -> None:
        with self._lock:
            self._sweeping, self._last_beat = False, self._clock()
            self.sweeps += 1

    def alive(self) -> bool:
        with self._lock:
            return not self._sweeping or self._clock() - self._last_beat < self.stall_after

    def sweeping(self) -> bool:
        with self._lock:
            return self._sweeping


def ping_while_alive(
    sd: SdNotifier, liveness: Liveness, running: Callable[[], bool], stopped: threading.Event, every: float
) -> None:
    """Send WATCHDOG=1 every `every` seconds while sweeps progress and `running()`; until `stopped` is set.

    A stall is logged once, not every tick: systemd restarts the daemon after WatchdogSec anyway."""
    withheld = False
    while not stopped.wait(every):
        if liveness.alive() and running():
            if withheld:
                log.info("sweep progressing again: resuming the watchdog pings")
            withheld = False
            sd.watchdog()
        elif not withheld:
            withheld = True
            log.error(
                "sweep made no progress for %.0f s: withholding the watchdog ping", liveness.stall_after
            )
            sd.status("sweep stalled: withholding the watchdog ping")


def health_report(
    scheduler_ok: bool, engine: Engine, liveness: Liveness, version: str
) -> tuple[bool, dict[str, Any]]:
    """/healthz: healthy when the scheduler runs, the database answers `SELECT 1` and sweeps progress."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:
        db_ok = False
    ok = scheduler_ok and db_ok and liveness.alive()
    return ok, {
        "status": "ok" if ok else "unhealthy",
        "scheduler": scheduler_ok,
        "database": db_ok,
        "sweeping": liveness.sweeping(),
        "sweeps": liveness.sweeps,
        "version": version,
    }
