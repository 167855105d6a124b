"""Per-app inspector probes: one call finds out whether an app's inspector credential works.

An app not known to answer gets one probe call first; its other tokens wait on the app's gate and, when the
probe found an inspector problem, take that answer without a call of their own. An app whose inspector was
refused is probed again only after a backoff, instead of spending one call per token on a known refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from monitor.check.observe import ANSWERED, Cadence
from monitor.graph.results import CheckResult, Verdict
from monitor.retry import backoff

# None: call freely. (gate, True): this check is the app's probe and opens the gate when done.
# (gate, False): wait for the probe; if it found an inspector problem, reuse its answer.
Gate = tuple[threading.Event, bool]


class InspectorProbes:
    """What the sweep has learnt about each app's inspector credential; safe to use from worker threads."""

    def __init__(self) -> None:
        # Value: consecutive inspector failures of an app whose inspector credential was refused.
        self.suspect: dict[int, int] = {}
        self.probe_at: dict[int, float] = {}  # app id -> earliest next probe of a refused inspector
        self._lock = threading.Lock()
        self._gates: dict[int, threading.Event] = {}
        self._failed: dict[int, CheckResult] = {}
        self._answering: set[int] = set()

    def forget(self, app_id: int) -> None:
        """A new inspector credential: forget what the old one taught us."""
        self.suspect.pop(app_id, None)
        self.probe_at.pop(app_id, None)
        with self._lock:
            self._failed.pop(app_id, None)

    def mark_invalid(self, app_id: int) -> None:
        """The stored inspector state says "invalid": probe before trusting it again."""
        self.suspect.setdefault(app_id, 1)
        with self._lock:
            self._answering.discard(app_id)

    def gate(self, app_id: int, now: float, honour_pauses: bool, probed: set[int]) -> Gate | None:
        """The gate a check of `app_id` goes through (see `Gate`); `probed` collects the apps probed by one
        batch, whose other checks reuse a refusal instead of probing again."""
        with self._lock:
            gate = self._gates.get(app_id)
            if gate is not None and not gate.is_set():
                return gate, False
            if app_id in self._failed and gate is not None:
                if app_id in probed or (honour_pauses and self.probe_at.get(app_id, 0.0) > now):
                    return gate, False  # the gate is open: reuse the probe's answer, no call
            elif app_id in self._answering:
                return None
            gate = self._gates[app_id] = threading.Event()
            probed.add(app_id)
            return gate, True

    def wait(self, app_id: int, gate: Gate, timeout: float) -> CheckResult | None:
        """Wait (at most `timeout` s) for the app's probe; its answer if it found an inspector problem."""
        gate[0].wait(timeout)
        with self._lock:
            return self._failed.get(app_id)

    def learn(self, app_id: int, result: CheckResult, *, cadence: Cadence, now: float) -> None:
        """Remember at once (before the results are stored) whether the app's inspector works."""
        with self._lock:
            if result.verdict == Verdict.INSPECTOR:
                self._failed[app_id] = result
                self._answering.discard(app_id)
                failures = self.suspect[app_id] = self.suspect.get(app_id, 0) + 1
                wait = backoff(failures, cadence.min_interval, cadence.max_interval)
                self.probe_at[app_id] = now + wait
            elif result.verdict in ANSWERED:
                self._failed.pop(app_id, None)
                self._answering.add(app_id)
                self.suspect.pop(app_id, None)
                self.probe_at.pop(app_id, None)


def opener(event: threading.Event) -> Callable[[Future[Any]], None]:
    """A done-callback that opens `event`: a cancelled probe opens its gate too."""

    def done(_future: Future[Any]) -> None:
        event.set()

    return done
