"""The daemon's start-up error, shared by the lifecycle and the components that bind a listener."""

from __future__ import annotations


class DaemonError(Exception):
    """The daemon cannot start (e.g. its port is taken); the message says why."""
