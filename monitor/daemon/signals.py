"""The daemon's main thread: start, then wait for signals. SIGTERM and SIGINT stop, SIGHUP reloads.

A reload runs here, on the main thread, inside a boundary of its own: whatever it raises is logged and the
daemon runs on with the configuration it had.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any, Protocol

from monitor.redact import error_line

__all__ = ["SIGNAL_POLL", "run_until_signalled"]

log = logging.getLogger("monitor.daemon")

# A signal handed to another thread leaves the main thread (where handlers run) waiting: it wakes this often.
SIGNAL_POLL = 0.5


class Runnable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def reload(self, path: str | os.PathLike[str]) -> bool: ...


def run_until_signalled(daemon: Runnable, config_path: str | os.PathLike[str] | None) -> int:
    """Start `daemon`, then block until SIGTERM/SIGINT (stop it, return 0); SIGHUP reloads `config_path`."""
    wake = threading.Event()
    reload_requested = threading.Event()

    def on_stop(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        wake.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        reload_requested.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    daemon.start()
    try:
        while True:
            if not wake.wait(SIGNAL_POLL):
                continue
            wake.clear()
            if not reload_requested.is_set():
                break
            reload_requested.clear()
            if config_path is not None:
                _reload(daemon, config_path)
    finally:
        daemon.stop()
    return 0


def _reload(daemon: Runnable, path: str | os.PathLike[str]) -> None:
    try:
        daemon.reload(path)
    except Exception as exc:  # the boundary: a reload never ends monitoring
        log.error("reload failed, still running on the previous configuration: %s", error_line(exc))
