"""The bearer token of the [callbacks] API, checked in constant time, with guessing throttled per client.

Each client (monitor.httpd.clients.client_key: an address, an IPv6 /64) may fail BURST times; each failure
spends one attempt and one comes back every REFILL seconds. A client without attempts left is refused
(`throttled`) without its token being compared, the right one included, until one comes back. A success
spends nothing. Pure but for the lock and the clock it is given: decisions and logging are the caller's.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

__all__ = ["BURST", "REFILL", "BearerGuard", "Verdict"]

Verdict = Literal["ok", "unauthorized", "throttled"]

BURST = 10  # wrong attempts a client may make at once
REFILL = 6.0  # seconds per attempt regained: 10 a minute once the burst is spent
MAX_CLIENTS = 10_000  # clients remembered (least recently refused forgotten first)


class BearerGuard:
    """`check(authorization_header, client)` -> "ok" | "unauthorized" | "throttled"."""

    def __init__(
        self,
        token: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        burst: int = BURST,
        refill: float = REFILL,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self._token = token.encode("utf-8") if token else None
        self.clock, self.burst, self.refill, self.max_clients = clock, burst, refill, max_clients
        self._left: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (attempts, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, header: str | None, client: str) -> Verdict:
        with self._lock:
            if self._attempts(client) < 1:
                return "throttled"
        if self._matches(header):
            return "ok"
        with self._lock:
            self._spend(client)
        return "unauthorized"

    def fresh(self, client: str) -> bool:
        """Whether `client` has every attempt left (its next failure is the first in a while)."""
        with self._lock:
            return self._attempts(client) >= self.burst

    def throttled(self, client: str) -> bool:
        """Whether `client` has no attempt left (its requests are refused uncompared)."""
        with self._lock:
            return self._attempts(client) < 1

    def retry_after(self, client: str) -> int:
        """Whole seconds until `client` has an attempt again (at least 1)."""
        with self._lock:
            missing = 1 - self._attempts(client)
        return max(1, int(missing * self.refill + 0.999))

    def clients(self) -> int:
        with self._lock:
            return len(self._left)

    def _matches(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        if self._token is None or scheme.lower() != "bearer":
            return False
        # Header text is the raw bytes read as latin-1: encoding it back gives the bytes the client sent.
        return hmac.compare_digest(given.strip().encode("latin-1"), self._token)

    def _attempts(self, client: str) -> float:
        left, at = self._left.get(client, (self.burst, 0.0))
        return min(float(self.burst), left + (self.clock() - at) / self.refill)

    def _spend(self, client: str) -> None:
        self._left[client] = (self._attempts(client) - 1, self.clock())
        self._left.move_to_end(client)
        while len(self._left) > self.max_clients:
            self._left.popitem(last=False)
