"""Finished futures, handed over in batches: the sweep's loop wakes when it has something to do.

`concurrent.futures.wait(pending, return_when=FIRST_COMPLETED)` locks, installs a waiter on and unlocks every
pending future on every call, and wakes the caller for every finished check: both were among the largest
costs of a check beside the HTTP exchange (bench/profile_check.py). Here a finished future is appended under
one lock, and the waiting thread is woken only once `need` of them have arrived (or its timeout passed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class Arrivals(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._arrived: list[Future[T]] = []
        self._need = 1

    def watch(self, futures: Iterable[Future[T]]) -> None:
        for future in futures:
            future.add_done_callback(self._arrive)

    def _arrive(self, future: Future[T]) -> None:
        with self._cond:
            self._arrived.append(future)
            if len(self._arrived) == self._need:
                self._cond.notify()

    def take(self, timeout: float, need: int = 1) -> list[Future[T]]:
        """The futures finished since the last call, once at least `need` have (or `timeout` s passed)."""
        need = max(1, need)
        with self._cond:
            if len(self._arrived) < need:
                self._need = need
                self._cond.wait(timeout)
                self._need = 1
            arrived, self._arrived = self._arrived, []
        return arrived
