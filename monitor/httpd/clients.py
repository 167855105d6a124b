"""Who a connection comes from, and each client's share of a listener's connection slots.

A client is its address: an IPv4 address, or the /64 of an IPv6 one (one host holds a whole /64, so a
share per address would be no share at all). Behind a reverse proxy the proxy is the client.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter

__all__ = ["ClientSlots", "client_key"]


def client_key(address: object) -> str:
    """The client a peer address (as `getpeername()` gives it) belongs to; "" when it has none (a UNIX
    socket, a test's socketpair)."""
    if not isinstance(address, tuple) or not address:
        return ""
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return str(address[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ClientSlots:
    """At most `per_client` connections at once from one client (None: no share, only the listener's cap)."""

    def __init__(self, per_client: int | None) -> None:
        self.per_client = per_client
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> bool:
        with self._lock:
            if self.per_client is not None and self._held[client] >= self.per_client:
                return False
            self._held[client] += 1
            return True

    def release(self, client: str) -> None:
        with self._lock:
            self._held[client] -= 1
            if self._held[client] <= 0:
                del self._held[client]

    def held(self, client: str) -> int:
        with self._lock:
            return self._held[client]
