"""The results of a batch of checks as they complete, each one reported to an optional progress callback."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, as_completed
from typing import TypeVar

T = TypeVar("T")
Tick = Callable[[int], None]  # called with the number of items just finished (a progress bar's update)


def gather(futures: Iterable[Future[T]], tick: Tick | None = None) -> list[T]:
    """Every future's result, in the order they finish; `tick(1)` after each. A failure raises as it would."""
    results: list[T] = []
    for future in as_completed(list(futures)):
        results.append(future.result())
        if tick is not None:
            tick(1)
    return results
