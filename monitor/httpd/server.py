"""The listener of monitor.httpd: accept loop, bounded worker pool, deadline-bound reads, TLS, keep-alive."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from monitor.httpd.clients import ClientSlots, client_key
from monitor.httpd.conn import Conn, handshake, linger, send_now
from monitor.httpd.messages import (
    Handler,
    Limits,
    Request,
    RequestRefused,
    Response,
    Route,
    body_length,
    parse_head,
)
from monitor.redact import error_line
from monitor.retry import backoff

__all__ = ["HttpServer", "accept_backoff"]

log = logging.getLogger("monitor.httpd")


def accept_backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th accept() failure in a row: 0.1 doubling up to 0.5."""
    return backoff(failures, 0.1, 0.5)


class HttpServer:
    """Serves `routes` on `host`:`port` (0: any free port) from daemon threads, held to `limits`.

    With `tls_cert_file` and `tls_key_file` it speaks HTTPS only. `listener` is an already bound socket to
    serve instead of binding one (socket activation; tests).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        tls_cert_file: Path | str | None = None,
        tls_key_file: Path | str | None = None,
        name: str = "http",
        listener: socket.socket | None = None,
    ) -> None:
        self.routes, self.host, self.port, self.name = list(routes), host.strip("[]"), port, name
        self.limits, self._tls, self._sock = (
            limits or Limits(),
            _tls_context(tls_cert_file, tls_key_file),
            listener,
        )
        self._stopping, self._lock, self._open = threading.Event(), threading.Lock(), set[socket.socket]()
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._clients = ClientSlots(self.limits.max_connections_per_client)
        self._pool = ThreadPoolExecutor(self.limits.max_connections, thread_name_prefix=f"{name}-worker")
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        if self._sock is None:
            raise RuntimeError(f"{self.name} server not started")
        return self.host, int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self._tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def start(self) -> None:
        """Bind (unless given a listener), listen and accept from a daemon thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = self._sock or socket.create_server((self.host, self.port), family=family)
        sock.listen(self.limits.backlog)
        sock.settimeout(0.5)  # accept() wakes up this often to notice stop(), wherever shutdown() does not
        if self._tls:
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self._sock = sock
        self._thread.start()
        log.info("%s listening on %s", self.name, self.url)

    def stop(self) -> None:
        """Stop accepting, cut open connections and wait for their workers."""
        self._stopping.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):  # wakes a blocked accept() at once on Linux
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):  # already closed by its worker
                    sock.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=True)
        if self._sock is not None:
            self._sock.close()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        failures = 0
        while not self._stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:  # EMFILE/ENFILE above all: the pending connection stays queued
                failures += 1
                if failures == 1 and not self._stopping.is_set():
                    log.warning("%s: accept() failed (%s); backing off until it succeeds", self.name, exc)
                self._stopping.wait(accept_backoff(failures))
                continue
            if failures:
                log.info("%s: accept() works again after %d failures", self.name, failures)
            failures = 0
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        client = _peer(sock)
        if not self._clients.acquire(client):
            log.debug("%s: a client holds its share of the connections; one more refused", self.name)
            return _turn_away(sock)
        if not self._slots.acquire(blocking=False):
            self._clients.release(client)
            return _turn_away(sock)
        with self._lock:
            self._open.add(sock)
        self._pool.submit(self._serve, sock, client)

    def _serve(self, sock: socket.socket, client: str) -> None:
        try:
            if self._converse(Conn(sock), client):
                linger(sock)
        except OSError as exc:  # resets, TLS failures, send timeouts: routine, and the client's doing
            log.debug("%s: connection dropped: %s", self.name, type(exc).__name__)
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()
            self._clients.release(client)
            self._slots.release()

    def _converse(self, conn: Conn, client: str) -> bool:
        """Serve requests until the connection ends; True if the server ended it after answering."""
        limits = self.limits
        start = time.monotonic()
        try:
            if isinstance(conn.sock, ssl.SSLSocket):
                handshake(conn.sock, start + self._head_deadline)
            for served in range(1, limits.max_requests_per_connection + 1):
                if served > 1 and not conn.next_request(limits.idle_timeout):
                    return False
                start = start if served == 1 else time.monotonic()
                response, keep, head = self._one(conn, start, client)
                keep = keep and served < limits.max_requests_per_connection
                keep = keep and not (limits.close_after_error and response.status >= 400)
                conn.sock.settimeout(limits.request_deadline)  # a client that never reads is let go
                conn.sock.sendall(response.encode(close=not keep, head=head))
                if not keep:
                    return True
        except RequestRefused as refused:
            if refused.status is None:
                return False
            send_now(conn.sock, Response.text(refused.status))
        return True

    @property
    def _head_deadline(self) -> float:
        limits = self.limits
        return min(limits.head_deadline or limits.request_deadline, limits.request_deadline)

    def _one(self, conn: Conn, start: float, client: str) -> tuple[Response, bool, bool]:
        """Read one request and answer it: (response, keep the connection open, it was a HEAD)."""
        head = conn.head(start + self._head_deadline, self.limits.max_header_bytes)
        deadline = start + self.limits.request_deadline
        method, target, version, headers = parse_head(head, self.limits.max_headers)
        length, (path, _, query) = body_length(headers), target.partition("?")
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        found = self._route(method, path)
        expects = length > 0 and headers.get("expect", "").lower() == "100-continue"
        if isinstance(found, Response):  # the body is read to be dropped, or the connection closed
            if length > self.limits.max_body or expects:
                return found, False, method == "HEAD"
            conn.body(length, deadline)
            return found, keep, method == "HEAD"
        route, params = found
        request = Request(method, path, query, headers, b"", params, client)
        if length > (self.limits.max_body if route.max_body is None else route.max_body):
            return self._call(route.on_oversized or _too_large, route, request), False, method == "HEAD"
        if expects:  # the client waits for this before it sends the body
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        request = Request(method, path, query, headers, conn.body(length, deadline), params, client)
        return self._call(route.handler, route, request), keep, method == "HEAD"

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | Response:
        allowed = set()
        for route in self.routes:
            if (params := route.match(path)) is not None:
                # HEAD is GET without the body on the wire (Response.encode(head=True)).
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, params
                allowed.add(route.method)
        return (
            Response.text(405, headers={"Allow": ", ".join(sorted(allowed))})
            if allowed
            else Response.text(404)
        )

    def _call(self, handler: Handler, route: Route, request: Request) -> Response:
        """The one catch-all boundary: a failing handler costs one 500, never the listener."""
        try:
            return handler(request)
        except Exception as exc:
            log.error("%s: %s %s failed: %s", self.name, route.method, route.pattern, error_line(exc))
            return Response.text(500)


def _peer(sock: socket.socket) -> str:
    try:
        return client_key(sock.getpeername())
    except OSError:  # already reset by the peer
        return ""


def _turn_away(sock: socket.socket) -> None:
    """503 and close, from the accept loop itself: no thread is started for a connection refused a slot."""
    if not isinstance(sock, ssl.SSLSocket):
        send_now(sock, Response.text(503, headers={"Retry-After": "1"}))
    sock.close()


def _too_large(request: Request) -> Response:
    return Response.text(413)


def _tls_context(cert_file: Path | str | None, key_file: Path | str | None) -> ssl.SSLContext | None:
    if cert_file is None or key_file is None:
        if cert_file or key_file:
            raise ValueError("TLS needs both a certificate file and a key file")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context
