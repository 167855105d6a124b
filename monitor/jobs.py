"""What a daemon component hands the scheduler (`Job`), and what every component offers (`Component`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

S_contra = TypeVar("S_contra", contravariant=True)


@dataclass(frozen=True)
class Job:
    """A named function the scheduler runs every `interval` seconds, the first time after `first_delay`."""

    name: str
    func: Callable[[], Any]
    interval: float
    first_delay: float = 0.0


class Component(Protocol[S_contra]):
    """A part of the daemon (alerting, refresh, sources, callbacks). Built with the things it uses as
    arguments and its own frozen settings (`S_contra`); the daemon only schedules its jobs, hands it its
    part of a reloaded configuration, and stops it in two steps."""

    def jobs(self) -> list[Job]:
        """The jobs to schedule (intervals may follow the config: asked again after a reload)."""
        ...

    def reload(self, settings: S_contra) -> None:
        """Apply new, already validated settings (from a reloaded configuration)."""
        ...

    def stop(self) -> None:
        """Stop claiming new work; a running job ends soon. Called before the scheduler drains."""
        ...

    def close(self) -> None:
        """Release threads, connections and leases. Called after the scheduler drained."""
        ...
