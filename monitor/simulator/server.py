"""The HTTP side of the Threads API simulator: server, request handler, `/__sim/` control, command line.

The simulated state and its answers live in monitor/simulator.py (`Simulator`); this module turns requests
into calls on it and faults into wire behaviour. `python -m monitor.simulator` runs `main()` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.simulator import api as _api
from monitor.simulator.api import DEBUG, PATHS, REFRESH, Fault, ThreadsApi, envelope, usage_headers
from monitor.simulator.deauth import post_deauthorize

_DESCRIPTION = (_api.__doc__ or "").splitlines()[0]


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True
    sim: ThreadsApi

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


_TEXT = "text/html; charset=UTF-8"
_JSON = "application/json; charset=UTF-8"


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
        sim = self.server.sim
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/__sim/"):
            status, answer = _control(sim, parts.path.removeprefix("/__sim/"), query)
            self._send(status, json.dumps(answer).encode())
            return
        endpoint = next((name for name, rx in PATHS.items() if rx.match(parts.path)), None)
        if endpoint is None:
            self._send(404, json.dumps(envelope(803, "Unknown path")).encode())
            return
        token = query.get("input_token" if endpoint == DEBUG else "access_token", "")
        faults = sim.record_call(endpoint, token)
        headers: dict[str, str] = {}
        terminal = None
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(float(fault.params.get("seconds", 0.1)))
            elif fault.kind == "usage":
                p = fault.params
                headers.update(usage_headers(p.get("percent", 80), p.get("minutes", 0), sim.app_of(token)))
            else:
                terminal = fault
        if terminal is not None and self._replace(terminal, headers, sim.app_of(token)):
            return
        if endpoint == DEBUG:
            status, body, _ = sim.debug_answer(token, query.get("access_token", ""))
        else:
            status, body, _ = sim.refresh_answer(token, query.get("grant_type", ""))
        payload = json.dumps(body).encode()
        if terminal is not None and terminal.kind == "truncated":
            payload = payload[: len(payload) // 2]
        bps = (
            terminal.params.get("bytes_per_second", 100) if terminal and terminal.kind == "trickle" else None
        )
        self._send(status, payload, headers, bytes_per_second=bps)

    def _replace(self, fault: Fault, headers: dict[str, str], app_id: str) -> bool:
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
            headers.update(usage_headers(p.get("percent", 100), p.get("minutes", 1), app_id))
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


class Simulator(ThreadsApi):
    """A `ThreadsApi` served over HTTP on a background thread (`Simulator().start()`, or `with`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        callback_url: str | None = None,
    ) -> None:
        super().__init__(clock)
        self.host, self.port = host, port
        self.callback_url = callback_url  # deauthorize callbacks go here ("{app}": the app id), if set
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Simulator:
        """Bind and serve on a background thread; returns self so `Simulator().start()` chains."""
        self._server = SimServer((self.host, self.port), SimHandler)
        self._server.sim = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="threads-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None

    def revoke(self, token: str) -> tuple[str, str, str | None]:
        """Revoke `token`; with a `callback_url` and an app secret, POST Meta's signed deauthorize callback
        for its user, as Meta does when a user removes the app (returns at once; the POST runs aside)."""
        app_id, user_id, secret = super().revoke(token)
        if self.callback_url and secret:
            args = (self.callback_url, app_id, user_id, secret)
            threading.Thread(target=post_deauthorize, args=args, name="sim-deauth", daemon=True).start()
        return app_id, user_id, secret

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


def _control(sim: ThreadsApi, action: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The control surface for a simulator in another process (benchmarks, reliability tests).

    /__sim/stats, /__sim/reset, /__sim/clear, /__sim/fault?kind=K[&token=T][&endpoint=E][&count=N][&param=V],
    /__sim/revoke?token=T, /__sim/callback_url?url=U ("{app}" in U becomes the app id)
    """
    if action == "stats":
        return 200, {
            "debug_token": sim.calls(endpoint=DEBUG),
            "refresh_access_token": sim.calls(endpoint=REFRESH),
            "total": sim.calls(),
        }
    if action == "revoke":  # a user removes the app: revoked, and a callback if one is configured
        try:
            app_id, user_id, _ = sim.revoke(query.get("token", ""))
        except KeyError:
            return 404, {"error": "unknown token"}
        return 200, {"ok": True, "app": app_id, "user_id": user_id}
    if action == "callback_url" and isinstance(sim, Simulator):
        sim.callback_url = query.get("url") or None
        return 200, {"ok": True}
    if action == "reset":
        sim.reset_counters()
        return 200, {"ok": True}
    if action == "clear":
        sim.clear_faults()
        return 200, {"ok": True}
    if action == "fault":
        params = dict(query)
        kind = params.pop("kind", "")
        token, endpoint = params.pop("token", None), params.pop("endpoint", None)
        count = int(params.pop("count")) if "count" in params else None
        try:
            sim.set_fault(
                kind,
                token=token,
                endpoint=endpoint,
                count=count,
                **{k: _number(v) for k, v in params.items()},
            )
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}
        return 200, {"ok": True}
    return 404, {"error": f"unknown control action {action!r}"}


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def _load(sim: ThreadsApi, path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    for app in doc.get("apps", []):
        sim.add_app(**app)
    for token in doc.get("tokens", []):
        sim.add_token(**token)
    for fault in doc.get("faults", []):
        sim.set_fault(**fault)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m monitor.simulator`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m monitor.simulator", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--tokens", metavar="FILE.json", help='{"apps": [...], "tokens": [...], "faults": [...]}'
    )
    parser.add_argument("--port-file", metavar="PATH", help="write the bound port here once serving")
    parser.add_argument("--callback-url", metavar="URL", help="POST deauthorize callbacks here ({app})")
    args = parser.parse_args(argv)
    sim = Simulator(args.host, args.port, callback_url=args.callback_url)
    if args.tokens:
        _load(sim, args.tokens)
    sim.start()
    print(sim.url, flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(sim.url.rsplit(":", 1)[1])
        os.replace(args.port_file + ".tmp", args.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass  # Ctrl-C is the documented way out
    finally:
        sim.stop()
    return 0
