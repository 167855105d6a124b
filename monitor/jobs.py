"""What a daemon component hands the scheduler (`Job`), and what every component offers (`Component`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    """A named function the scheduler runs every `interval` seconds, the first time after `first_delay`."""

    name: str
    func: Callable[[], Any]
    interval: float
    first_delay: float = 0.0


class Component(Protocol):
    """A part of the daemon (alerting, refresh, sources). Built with the things it uses as arguments;
    the daemon only schedules its jobs, passes a reloaded config, and stops it in two steps."""

    def jobs(self) -> list[Job]:
        """The jobs to schedule (intervals may follow the config: asked again after a reload)."""
        ...

    def reload(self, config: Any) -> None:
        """Apply a new, already validated configuration."""
        ...

    def stop(self) -> None:
        """Stop claiming new work; a running job ends soon. Called before the scheduler drains."""
        ...

    def close(self) -> None:
        """Release threads, connections and leases. Called after the scheduler drained."""
        ...
