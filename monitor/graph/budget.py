"""A rolling one-hour ceiling on Threads API calls (`[threads] max_calls_per_hour`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class CallBudget:
    """Sliding-window limiter: never more than `per_hour` calls in any 3600 s.

    An inspection reserves the most calls it may make (1 + retries) and refunds the ones it did not use, so
    retries can never push the count past the ceiling.
    """

    WINDOW = 3600.0

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def reload(self, per_hour: int) -> None:
        """A reloaded `[threads] max_calls_per_hour`: the calls already made in the window still count."""
        with self._lock:
            self.per_hour = per_hour

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.WINDOW:
            self._times.popleft()

    def preload(self, ages: list[float]) -> None:
        """Count calls made before this process started (`ages`: seconds ago), so that a restart, or a crash
        loop, does not start the hour afresh and exceed the ceiling."""
        with self._lock:
            now = self._clock()
            earlier = sorted(now - age for age in ages if 0 <= age < self.WINDOW)
            self._times = deque(sorted([*earlier, *self._times])[-self.per_hour :] if self.per_hour else [])

    def available(self) -> int:
        with self._lock:
            self._trim(self._clock())
            return self.per_hour - len(self._times)

    def try_acquire(self, n: int = 1) -> bool:
        with self._lock:
            now = self._clock()
            self._trim(now)
            if len(self._times) + n > self.per_hour:
                return False
            self._times.extend([now] * n)
            return True

    def refund(self, n: int) -> None:
        with self._lock:
            for _ in range(min(n, len(self._times))):
                self._times.pop()

    def next_free_in(self) -> float:
        """Seconds until at least one call is available again."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            if len(self._times) < self.per_hour:
                return 0.0
            return self._times[0] + self.WINDOW - now


class BudgetShare(CallBudget):
    """A share of `main`: every call is counted by both, so its holder never spends more than `fraction` of
    the main ceiling in any hour (the rest stays for scheduled work) nor more than `main` has left. The
    share follows `main.per_hour` (a reload) and `fraction` may be changed in place."""

    def __init__(self, main: CallBudget, fraction: float) -> None:
        self.main, self.fraction = main, fraction
        super().__init__(self._ceiling(), main._clock)

    def _ceiling(self) -> int:
        return max(1, int(self.main.per_hour * self.fraction))

    def available(self) -> int:
        self.per_hour = self._ceiling()
        return min(super().available(), self.main.available())

    def try_acquire(self, n: int = 1) -> bool:
        self.per_hour = self._ceiling()
        if not super().try_acquire(n):
            return False
        if not self.main.try_acquire(n):
            super().refund(n)
            return False
        return True

    def refund(self, n: int) -> None:
        super().refund(n)
        self.main.refund(n)

    def next_free_in(self) -> float:
        self.per_hour = self._ceiling()
        return max(super().next_free_in(), self.main.next_free_in())
