"""What a daemon component hands the scheduler: a named function and how often to run it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], Any]
    interval: float
    first_delay: float = 0.0
