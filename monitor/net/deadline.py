"""One deadline-watcher thread shared by every outbound call, instead of a `threading.Timer` per call.

A Timer per call starts (and ends) an OS thread per call: at a thousand checks a second that thread churn was
the largest cost of a check beside the HTTP exchange itself (bench/profile_check.py). Here a call registers
its deadline in a heap (a lock and a push) and cancels it by a flag; one daemon thread sleeps until the
earliest live deadline and runs its `cut` when it passes. Cancelled entries are dropped when they reach the
top of the heap, or all at once when they outnumber the live ones. With no call in flight for IDLE seconds the
thread ends (a stopping daemon waits for no thread), and the next call starts it again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Deadline", "watch"]


class Deadline:
    """A registered deadline: `cancel()` when the call is over; `is_set()` tells whether it fired."""

    __slots__ = ("at", "cut", "fired", "seq")

    def __init__(self, at: float, seq: int, cut: Callable[[], None]) -> None:
        self.at, self.seq = at, seq
        self.cut: Callable[[], None] | None = cut
        self.fired = False

    def __lt__(self, other: Deadline) -> bool:
        return (self.at, self.seq) < (other.at, other.seq)

    def cancel(self) -> None:
        self.cut = None  # the watcher drops it; no lock needed, a reference write is atomic

    def is_set(self) -> bool:
        return self.fired


class _Watcher:
    COMPACT_AT = 4096  # cancelled entries kept before the heap is rebuilt without them
    IDLE = 0.5  # seconds the thread outlives the last deadline; the next call starts it again

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[Deadline] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, cut: Callable[[], None]) -> Deadline:
        entry = Deadline(time.monotonic() + max(seconds, 0.0), next(self._seq), cut)
        with self._cond:
            heap = self._heap
            if len(heap) >= self.COMPACT_AT and len(heap) % self.COMPACT_AT == 0:
                live = [e for e in heap if e.cut is not None]
                if len(live) * 2 < len(heap):
                    heapq.heapify(live)
                    heap[:] = live
            heapq.heappush(heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            elif heap[0] is entry:
                self._cond.notify()  # earlier than what the watcher sleeps towards
        return entry

    def _run(self) -> None:
        heap = self._heap
        while True:
            due: list[Callable[[], None]] = []
            with self._cond:
                while heap and heap[0].cut is None:
                    heapq.heappop(heap)
                if not heap:
                    self._cond.wait(self.IDLE)
                    if not heap:  # nothing to watch: end, so that an exiting process finds no thread busy
                        self._thread = None
                        return
                    continue
                now = time.monotonic()
                while heap and (heap[0].cut is None or heap[0].at <= now):
                    entry = heapq.heappop(heap)
                    cut = entry.cut
                    if cut is not None:
                        entry.fired, entry.cut = True, None
                        due.append(cut)
                if not due:  # at least every IDLE s: cancelled tops are dropped, an idle thread ends
                    self._cond.wait(min(heap[0].at - now, self.IDLE) if heap else None)
            for cut in due:
                _run_quietly(cut)

    def reset(self) -> None:
        """In a forked child: the parent's thread is not there; start afresh on first use."""
        self._cond = threading.Condition(threading.Lock())
        self._heap = []
        self._thread = None


def _run_quietly(cut: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # a failing cut must not stop the watcher of every other call
        cut()


_WATCHER = _Watcher()
os.register_at_fork(after_in_child=_WATCHER.reset)


def watch(seconds: float, cut: Callable[[], None]) -> Deadline:
    """Run `cut()` (on the watcher thread) once `seconds` have passed, unless cancelled first."""
    return _WATCHER.add(seconds, cut)
