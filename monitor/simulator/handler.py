"""The HTTP side of the simulator: the server and its request handler, where faults become wire behaviour.

Each response goes out in ONE socket write: writing headers and body apart stalls ~40 ms per keep-alive
request on delayed ACKs (SPEC section 10). Request lines carry tokens, so nothing is logged.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from monitor.simulator.api import PLATFORMS, Call
from monitor.simulator.control import control
from monitor.simulator.faults import Fault
from monitor.simulator.wire import envelope, usage_headers

if TYPE_CHECKING:
    from monitor.simulator.server import Simulator

MAX_API_BODY = 64 * 1024  # a Graph API call's form body
MAX_CONTROL_BODY = 64 * 1024 * 1024  # /__sim/load: apps and tokens by the hundred thousand
_TEXT = "text/html; charset=UTF-8"
_JSON = "application/json; charset=UTF-8"


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True
    sim: Simulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, resets, bodies cut short) is routine, not a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                with contextlib.suppress(OSError):  # already closed by the peer
                    sock.shutdown(socket.SHUT_RDWR)


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    timeout = 300  # an idle keep-alive connection frees its thread eventually
    server: SimServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: request lines carry tokens."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        sim = self.server.sim
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        control_call = parts.path.startswith("/__sim/")
        body = self._body(MAX_CONTROL_BODY if control_call else MAX_API_BODY)
        if body is None:
            return
        if control_call:
            status, answer = control(sim, parts.path.removeprefix("/__sim/"), query, body)
            self._send(status, json.dumps(answer).encode())
            return
        if body:  # the Graph API takes a POST's parameters from its form body too
            query = {
                **{k: v[0] for k, v in parse_qs(body.decode("latin-1"), keep_blank_values=True).items()},
                **query,
            }
        call = sim.route(parts.path, query)
        if call is None:
            self._send(404, json.dumps(envelope(803, "Unknown path")).encode())
            return
        self._answer(sim, call, query, method)

    def _answer(self, sim: Simulator, call: Call, query: dict[str, str], method: str) -> None:
        faults = sim.record_call(call.endpoint, call.token, call.platform)
        headers: dict[str, str] = {}
        terminal = None
        usage = PLATFORMS[call.platform].usage_type
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(float(fault.params.get("seconds", 0.1)))
            elif fault.kind == "usage":
                p = fault.params
                owner = sim.app_of(call.token)
                headers.update(usage_headers(p.get("percent", 80), p.get("minutes", 0), owner, usage))
            else:
                terminal = fault
        if terminal is not None and self._replace(terminal, headers, sim.app_of(call.token), usage):
            return
        status, body, _ = sim.answer(call, query, method)
        payload = json.dumps(body).encode()
        if terminal is not None and terminal.kind == "truncated":
            payload = payload[: len(payload) // 2]
        trickle = terminal is not None and terminal.kind == "trickle"
        bps = terminal.params.get("bytes_per_second", 100) if terminal and trickle else None
        self._send(status, payload, headers, bytes_per_second=bps)

    def _body(self, limit: int) -> bytes | None:
        """The request body (b"" when none); None after answering 413 for one over `limit` bytes."""
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length) if length.strip().isdigit() else -1
        if not 0 <= size <= limit:
            self.close_connection = True
            self._send(413, json.dumps(envelope(1, "Request body too large")).encode())
            return None
        return self.rfile.read(size)

    def _replace(self, fault: Fault, headers: dict[str, str], app_id: str, usage: str) -> bool:
        """Answer with a fault instead of the real answer; False for faults that alter the real answer."""
        kind, p = fault.kind, fault.params
        if kind == "reset":  # RST instead of a response
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True
        elif kind == "http_error":
            status = int(p.get("status", 500))
            if p.get("retry_after") is not None:
                headers["Retry-After"] = str(p["retry_after"])
            if status in (500, 503):
                body = envelope(1 if status == 500 else 2, "An unexpected error has occurred. Please retry.")
                self._send(status, json.dumps(body).encode(), headers)
            else:
                self._send(status, b"<html><body>Bad Gateway</body></html>", headers, _TEXT)
        elif kind == "graph_error":
            body = envelope(
                int(p.get("code", 1)), p.get("message", "An unknown error has occurred."), p.get("subcode")
            )
            self._send(int(p.get("status", 400)), json.dumps(body).encode(), headers)
        elif kind == "throttle":
            code = int(p.get("code", 4))
            headers.update(usage_headers(p.get("percent", 100), p.get("minutes", 1), app_id, usage))
            body = envelope(code, f"(#{code}) Application request limit reached")
            self._send(int(p.get("status", 400)), json.dumps(body).encode(), headers)
        elif kind == "malformed":
            self._send(200, b"<html><body>Sorry, something went wrong.</body></html>", headers, _TEXT)
        elif kind == "shape":
            self._send(int(p.get("status", 200)), json.dumps(p.get("body")).encode(), headers)
        elif kind == "oversized":
            head, tail = b'{"data": {"is_valid": true, "pad": "', b'"}}'
            size = max(int(p.get("size", 5_000_000)), len(head) + len(tail))
            self._send(200, head + b"x" * (size - len(head) - len(tail)) + tail, headers)
        else:
            return False
        return True

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = _JSON,
        bytes_per_second: float | None = None,
    ) -> None:
        """Status line, headers and body in ONE write (or a slow trickle of the body when asked)."""
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('Error',))[0]}",
            f"Content-Type: {content_type}",
        ]
        lines += [f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if bytes_per_second is None:
                self.wfile.write(head + payload)
                return
            self.wfile.write(head)
            step = max(1, int(bytes_per_second * 0.05))
            for i in range(0, len(payload), step):
                time.sleep(step / bytes_per_second)
                self.wfile.write(payload[i : i + step])
        except OSError:  # the client went away (timeout, too_large): nothing left to answer
            self.close_connection = True
