"""The simulator's ledger: calls counted per platform, endpoint and token, a call log that names tokens only
by digest, and the faults injected for the next calls (globally, per token, per endpoint, per platform).

Faults work on every platform's endpoints alike: an endpoint filter of "debug_token" matches the debug_token
of Threads, Facebook and Instagram unless `platform` narrows it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from monitor.simulator.wire import token_digest

FAULT_KINDS = frozenset(
    {
        "latency",
        "http_error",
        "graph_error",
        "throttle",
        "malformed",
        "truncated",
        "shape",
        "reset",
        "oversized",
    }
    | {"trickle", "usage"}
)
MODIFIERS = ("latency", "usage")  # combine with one other fault instead of replacing it


class Fault:
    """One injected fault: `kind` with its `params`, for `token`/`endpoint`/`platform` (None: any),
    `remaining` more times (None: always)."""

    def __init__(
        self,
        kind: str,
        token: str | None,
        endpoint: str | None,
        count: int | None,
        params: dict[str, Any],
        platform: str | None = None,
    ) -> None:
        self.kind, self.token, self.endpoint, self.remaining, self.params = (
            kind,
            token,
            endpoint,
            count,
            params,
        )
        self.platform = platform

    def matches(self, endpoint: str, platform: str | None = None) -> bool:
        return (
            self.endpoint in (None, endpoint)
            and (self.platform is None or platform is None or self.platform == platform)
            and (self.remaining is None or self.remaining > 0)
        )


class Ledger:
    """Counters, call log and faults, behind one lock of their own (callers may be many threads)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._counts: Counter[tuple[str, str, str]] = Counter()  # (platform, endpoint, token)
        self._log: list[tuple[float, str, str]] = []

    def set_fault(
        self,
        kind: str,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        count: int | None = None,
        platform: str | None = None,
        **params: Any,
    ) -> None:
        """Inject a fault for `token` (None: any) on `endpoint` (None: every one) of `platform` (None: every
        one), `count` times (None: always)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(Fault(kind, token, endpoint, count, params, platform))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(
        self, token: str | None = None, endpoint: str | None = None, platform: str | None = None
    ) -> int:
        """How many requests arrived, optionally only for one token, endpoint and/or platform."""
        with self._lock:
            return sum(
                n
                for (plat, ep, tok), n in self._counts.items()
                if (token is None or tok == token)
                and (endpoint is None or ep == endpoint)
                and (platform is None or plat == platform)
            )

    def call_log(self) -> list[tuple[float, str, str]]:
        """(time, endpoint, token digest) per request, oldest first."""
        with self._lock:
            return list(self._log)

    def reset_counters(self) -> None:
        with self._lock:
            self._counts.clear()
            self._log.clear()

    def record_call(self, endpoint: str, token: str, platform: str = "threads") -> list[Fault]:
        """Count the call and pick its faults: per-token ones first (newest first), then global ones; at most
        one of each modifier and one fault that replaces or alters the answer."""
        with self._lock:
            self._counts[(platform, endpoint, token)] += 1
            self._log.append((self.clock(), endpoint, token_digest(token)))
            if not self._faults:
                return []
            newest = list(reversed(self._faults))
            ordered = [f for f in newest if f.token == token and f.matches(endpoint, platform)]
            ordered += [f for f in newest if f.token is None and f.matches(endpoint, platform)]
            chosen: list[Fault] = []
            for kind_group in (*MODIFIERS, None):
                for fault in ordered:
                    is_mod = fault.kind in MODIFIERS
                    if (kind_group is None and not is_mod) or fault.kind == kind_group:
                        chosen.append(fault)
                        break
            for fault in chosen:
                if fault.remaining is not None:
                    fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
            return chosen
