"""Outbound HTTP with a TOTAL deadline and a size cap: a slow or huge peer costs a bounded time and memory.

`requests` timeouts are per socket operation: a peer that trickles its headers or body one byte a second
never trips them. `BoundedSession.request` registers a deadline for the whole call (connect, headers, body)
with the one watcher thread of `monitor.net.deadline`; when it passes, the socket in use is shut down, which
wakes the blocked read at once, and the call raises `DeadlineExceeded`. Bodies are read in chunks up to
`max_bytes` (`TooLarge` past it). `shutdown_at` gives any other socket client (SMTP) the same total deadline.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from monitor.net.deadline import Deadline, watch

__all__ = ["BoundedSession", "DeadlineExceeded", "Reply", "TooLarge", "shutdown_at"]

CHUNK = 65536
_current = threading.local()  # per calling thread: the slot where its request's connection goes


class DeadlineExceeded(Exception):
    """The whole call took longer than its deadline; the connection was cut."""


class TooLarge(Exception):
    """The peer's answer is larger than the cap; the rest was not read. `status` and `headers` are the
    answer's, when they had arrived."""

    status: int | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Tracking:
    """Remembers, per thread, the pooled connection handed out for the current request."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        slot = getattr(_current, "slot", None)
        if slot is not None:
            slot[:] = [conn]
        return conn


class _HTTPPool(_Tracking, HTTPConnectionPool):
    pass


class _HTTPSPool(_Tracking, HTTPSConnectionPool):
    pass


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


@contextmanager
def shutdown_at(seconds: float, sock: Callable[[], socket.socket | None]) -> Iterator[Deadline]:
    """Within the block, shut down `sock()` once `seconds` have passed; `is_set()` tells whether it fired."""

    def cut() -> None:
        target = sock()
        if target is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to wake
                target.shutdown(socket.SHUT_RDWR)

    deadline = watch(seconds, cut)
    try:
        yield deadline
    finally:
        deadline.cancel()


class BoundedSession:
    """A pooled `requests.Session` whose every call has a total deadline and a body cap.

    The environment is read once, not on every call: `requests` with `trust_env` walks `os.environ` for
    proxies and stats `~/.netrc` per request, a quarter of a check's CPU (bench/profile_check.py). Here the
    proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are resolved once per origin and the CA
    bundle (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`) once per session, as requests would; `~/.netrc` is never
    read (every call carries its own credential, and no other host's password may ride along)."""

    def __init__(self, *, pool_size: int = 10, headers: Mapping[str, str] | None = None) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.session.verify = bundle or True
        self._proxies: dict[str, dict[str, str]] = {}  # by origin (scheme://host:port); config-bounded
        adapter = _Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(headers or {})

    def proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for `url` (none where NO_PROXY names its host), read once per origin."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no user, path, query or fragment
        found = self._proxies.get(origin)
        if found is None:
            found = dict(get_environ_proxies(origin))
            if len(self._proxies) < 1024:
                self._proxies[origin] = found
        return found

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, url: str, *, deadline: float, max_bytes: int, **kwargs: Any) -> Reply:
        """One call, all of it within `deadline` seconds; raises DeadlineExceeded, TooLarge, or requests'
        own exceptions (connection refused, TLS...). Redirects are never followed."""
        end = time.monotonic() + deadline
        slot: list[Any] = []  # filled by the pool in this thread, read by the timer thread
        _current.slot = slot

        def in_use() -> socket.socket | None:
            return getattr(slot[0], "sock", None) if slot else None

        with shutdown_at(deadline, in_use) as fired:
            try:
                kwargs.setdefault("proxies", self.proxies_for(url))
                response = self.session.request(
                    method, url, timeout=deadline, stream=True, allow_redirects=False, **kwargs
                )
                try:
                    body = _read(response, max_bytes, end)
                except TooLarge as exc:
                    exc.status, exc.headers = response.status_code, response.headers
                    raise
                finally:
                    response.close()
            except TooLarge:
                raise
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if fired.is_set():
                    raise DeadlineExceeded(f"no complete answer within {deadline:g} s") from None
                raise exc from None
        if fired.is_set():
            raise DeadlineExceeded(f"no complete answer within {deadline:g} s")
        return Reply(response.status_code, response.headers, body)


def _read(response: requests.Response, max_bytes: int, end: float) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise TooLarge(f"answer of {length} bytes (cap {max_bytes})")
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > end:
            raise DeadlineExceeded("body not complete within the deadline")
        chunk = response.raw.read1(CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"answer larger than {max_bytes} bytes")
        chunks.append(chunk)
