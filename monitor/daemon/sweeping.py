"""The daemon's sweep job: one sweep inside the watchdog's progress tracking, summarised in the log."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from monitor.check.store import call_times_since
from monitor.check.sweep import Sweeper
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.watchdog import Liveness

__all__ = ["calls_in_the_last_hour", "sweep_once"]

log = logging.getLogger("monitor.daemon")


def sweep_once(sweeper: Sweeper, liveness: Liveness, sd: SdNotifier, max_calls_per_hour: int) -> None:
    """Run one sweep; log what it inspected (and tell systemd), and when the call budget ran out."""
    liveness.sweep_started()
    try:
        stats = sweeper.sweep()
    finally:
        liveness.sweep_finished()
    if stats.inspected or stats.deferred:
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.results.items()))
        log.info(
            "sweep: inspected %d token(s) (%s)%s",
            stats.inspected,
            summary or "-",
            f", {stats.deferred} deferred" if stats.deferred else "",
        )
        sd.status(f"last sweep inspected {stats.inspected} token(s)")
    if stats.budget_exhausted:
        log.warning("max_calls_per_hour (%d) reached: due checks wait for the budget", max_calls_per_hour)


def calls_in_the_last_hour(sessions: sessionmaker[Session], now: float) -> list[float]:
    """Ages of the checks and refreshes stored in the last hour (one call each: a lower bound, retries are
    not stored). With several daemons this counts theirs too: conservative, never over the ceiling."""
    with sessions() as s:
        return [now - t for t in call_times_since(s, now - 3600)]
