"""What monitor.httpd reads and writes: limits, requests, responses, routes and the strict head parser.

Nothing here touches a socket; conn.py and server.py do, using these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

__all__ = [
    "TEXT",
    "Handler",
    "Limits",
    "Request",
    "RequestRefused",
    "Response",
    "Route",
    "body_length",
    "parse_head",
]

TEXT = "text/plain; charset=utf-8"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_LENGTH = re.compile(r"[0-9]{1,18}")
_SINGLE = frozenset({"content-length", "transfer-encoding", "host", "authorization", "content-type"})


@dataclass(frozen=True)
class Limits:
    """The bounds every connection is held to (seconds, bytes, counts)."""

    max_connections: int = 64
    max_connections_per_client: int | None = None  # None: a client may take every slot
    request_deadline: float = 10.0  # from accept (or a keep-alive request's first byte) to its last byte
    head_deadline: float | None = None  # from the same moment to the last byte of the head (None: the same)
    idle_timeout: float = 30.0  # a keep-alive connection's wait for the next request
    close_after_error: bool = False  # an answer of 400 or more ends the connection
    max_header_bytes: int = 16 * 1024
    max_headers: int = 64
    max_body: int = 8 * 1024  # for routes that set none, and for bodies read only to be dropped
    max_requests_per_connection: int = 100
    backlog: int = 128


@dataclass(frozen=True)
class Request:
    """One request, read whole. Header names are lower-case; `params` are the route's `{name}` segments."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)
    client: str = ""  # the peer's address (an IPv6 peer's /64): monitor.httpd.clients.client_key

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    """A complete response; a header name or value that could split the response is refused (ValueError)."""

    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not all(
            _TOKEN.fullmatch(k) and _VALUE.fullmatch(v) and "\t" not in v for k, v in self.headers.items()
        ):
            raise ValueError("a response header name or value is not valid")

    @classmethod
    def text(cls, status: int, word: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
        """A one-line plain-text response: `word`, or the status phrase."""
        return cls(status, f"{word or HTTPStatus(status).phrase.lower()}\n".encode(), TEXT, headers or {})

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, json.dumps(value).encode() + b"\n", "application/json")

    def encode(self, *, close: bool, head: bool = False) -> bytes:
        """Status line, headers and body as one bytes object (no body for a HEAD request)."""
        headers = {"Date": formatdate(usegmt=True), "Content-Type": self.content_type}
        headers.update({"Content-Length": str(len(self.body)), "Cache-Control": "no-store"})
        headers.update({"X-Content-Type-Options": "nosniff", **self.headers})
        headers.update({"Connection": "close"} if close else {})
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        start = f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n{lines}\r\n".encode()
        return start if head else start + self.body


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """`method` on `pattern` ("/a/{name}/b": a `{name}` matches one non-empty segment) goes to `handler`.

    A body over `max_body` (None: `Limits.max_body`) is never read: `on_oversized` answers instead of the
    default 413, given the request with an empty body; the connection is closed after either.
    """

    method: str
    pattern: str
    handler: Handler
    max_body: int | None = None
    on_oversized: Handler | None = None

    def match(self, path: str) -> dict[str, str] | None:
        """The `{name}` segments of `path` (percent-decoded, printable), or None if it does not match.

        `{name*}` at the end of a pattern takes the rest of the path, an encoded "/" included (a token
        named "team/acme" is /tokens/team%2Facme); a plain `{name}` never holds a "/"."""
        found = _compiled(self.pattern).fullmatch(path)
        if not found:
            return None
        params = {k.removesuffix("_rest"): unquote(v, errors="replace") for k, v in found.groupdict().items()}
        ok = all(v.isprintable() and ("/" not in v or f"{{{k}*}}" in self.pattern) for k, v in params.items())
        return params if ok else None


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    escaped = re.escape(pattern)
    escaped = re.sub(r"\\\{(\w+)\\\*\\\}$", r"(?P<\1_rest>.+)", escaped)
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", escaped))


class RequestRefused(Exception):
    """The request cannot be served: the connection ends, after `status` is answered (None: just closed)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(status or "closed")
        self.status = status


def parse_head(head: bytes, max_headers: int) -> tuple[str, str, str, dict[str, str]]:
    """Method, target, version and headers of a request head (without its final CRLF CRLF).

    Strict where leniency lets requests be smuggled: no whitespace before a colon, no folded lines, one
    Content-Length / Transfer-Encoding / Host / Authorization / Content-Type; Host required in HTTP/1.1.
    """
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _TARGET.fullmatch(parts[1]):
        raise RequestRefused(400)
    if parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise RequestRefused(505 if parts[2].startswith("HTTP/") else 400)
    if len(lines) - 1 > max_headers:
        raise RequestRefused(431)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name, value = name.lower(), value.strip(" \t")
        if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise RequestRefused(400)
        if name in headers and name in _SINGLE:
            raise RequestRefused(400)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if parts[2] == "HTTP/1.1" and "host" not in headers:
        raise RequestRefused(400)
    return parts[0], parts[1], parts[2], headers


def body_length(headers: Mapping[str, str]) -> int:
    """The Content-Length of a request (0 if none); a Transfer-Encoding is refused with 411."""
    if "transfer-encoding" in headers:  # chunked bodies are not taken: the length must be known up front
        raise RequestRefused(411)
    if not _LENGTH.fullmatch(raw := headers.get("content-length", "0")):
        raise RequestRefused(400)
    return int(raw)
