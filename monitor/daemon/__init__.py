"""The daemon: lifecycle, components built with explicit arguments, watchdog and sd_notify."""

from __future__ import annotations

from typing import Any

__all__ = ["Daemon", "DaemonError", "cadence_of"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: a command that only names DaemonError does not start the daemon's imports."""
    if name in __all__:
        from monitor.daemon import lifecycle

        return getattr(lifecycle, name)
    raise AttributeError(name)
