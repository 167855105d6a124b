"""The daemon: lifecycle, components built with explicit arguments, watchdog and sd_notify."""

from monitor.daemon.lifecycle import Daemon, DaemonError, cadence_of

__all__ = ["Daemon", "DaemonError", "cadence_of"]
