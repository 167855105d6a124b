"""The HTTP endpoint: GET /metrics, /healthz and the status page at /, with optional TLS and basic auth.

Each response goes out in one write (status line, headers and body in one bytes object), so a client's
delayed ACK never stalls the second half of a response. Request lines are never logged: a misconfigured
client could send a secret in a query string. The status pages (/ and /tokens/NAME) are functions of
monitor.web.routes; this module only dispatches to them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor import __version__
from monitor.config.load import HttpConfig
from monitor.context import Context
from monitor.redact import error_line
from monitor.web.routes import TOKEN_PREFIX, PageFunction, fleet_response, token_response

log = logging.getLogger("monitor.web")

Health = Callable[[], tuple[bool, dict[str, Any]]]
Response = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, extra headers

TEXT = "text/plain; charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    web: WebServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or fails the TLS handshake is routine, not a traceback on stderr.
        log.debug("connection from %s failed", client_address[0] if client_address else "?", exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "threads-token-monitor"
    sys_version = ""
    timeout = 30  # seconds of client silence before the connection is dropped

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, on the request thread, not in the accept loop
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """Silenced: request lines could carry query strings."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        web = self.server.web
        if not web.authorised(self.headers.get("Authorization")):
            status, ctype, body, extra = (
                401,
                TEXT,
                b"authentication required\n",
                {"WWW-Authenticate": 'Basic realm="threads-token-monitor", charset="UTF-8"'},
            )
        else:
            status, ctype, body, extra = web.route(self.path, self.headers.get("Accept"))
        self._send(status, ctype, body, extra, head=head)

    def _send(self, status: int, ctype: str, body: bytes, extra: dict[str, str], *, head: bool) -> None:
        reason = HTTPStatus(status).phrase
        headers = {
            "Content-Type": ctype,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **extra,
        }
        head_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        start = f"{self.protocol_version} {status} {reason}\r\n{head_lines}\r\n".encode("latin-1")
        self.wfile.write(start if head else start + body)
        self.wfile.flush()


class WebServer:
    """Serves /metrics, /healthz and / on `http.listen` from a daemon thread."""

    def __init__(
        self, http: HttpConfig, *, registry: CollectorRegistry | None, health: Health, ctx: Context
    ) -> None:
        self.http, self.registry, self.health, self.ctx = http, registry, health, ctx
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._credentials = self._expected_credentials(http)

    @staticmethod
    def _expected_credentials(http: HttpConfig) -> bytes | None:
        if http.basic_auth_username is None or http.basic_auth_password is None:
            return None
        return f"{http.basic_auth_username}:{http.basic_auth_password}".encode()

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        host = self.http.host.strip("[]")
        server = (_Server6 if ":" in host else _Server)((host, self.http.port), _Handler)
        server.web = self
        if self.http.tls_cert_file is not None and self.http.tls_key_file is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(self.http.tls_cert_file), str(self.http.tls_key_file))
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
        )
        self._thread.start()
        log.info("serving /metrics, /healthz and / on %s://%s:%d", self.scheme, host, self.port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("web server not started")
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.http.tls_cert_file is not None else "http"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    # --- requests ----------------------------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        """True without basic auth configured; else only for the configured username and password."""
        if self._credentials is None:
            return True
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._credentials)

    def route(self, raw_path: str, accept: str | None) -> Response:
        path, _, query = raw_path.partition("?")
        if path == "/metrics":
            return self.metrics(accept)
        if path == "/healthz":
            return self.healthz()
        if path in ("/", "/index.html"):
            return self.status_page(fleet_response, query)
        if path.startswith(TOKEN_PREFIX):
            return self.status_page(token_response, path)
        return 404, TEXT, b"not found: try /metrics, /healthz or /\n", {}

    def metrics(self, accept: str | None) -> Response:
        if self.registry is None:
            return 503, TEXT, b"metrics are not available\n", {}
        encoder, content_type = choose_encoder(accept or "")
        try:
            body = encoder(self.registry)
        except Exception as exc:  # a database outage must cost one scrape, not the server
            log.warning("scrape failed: %s", error_line(exc))
            return 503, TEXT, b"metrics unavailable: the database did not answer\n", {}
        return 200, content_type, body, {}

    def healthz(self) -> Response:
        try:
            ok, details = self.health()
        except Exception as exc:
            ok, details = False, {"status": "unhealthy", "error": error_line(exc)}
        return (200 if ok else 503), "application/json", json.dumps(details).encode() + b"\n", {}

    def status_page(self, page: PageFunction, request: str) -> Response:
        """A status page for `request` (the query string of /, or the path of /tokens/NAME)."""
        ctx = self.ctx
        try:
            status, ctype, body = page(ctx.sessions, request, ctx.now(), ctx.horizons, version=__version__)
        except UnicodeDecodeError:
            return 404, TEXT, b"not found: the name is not UTF-8\n", {}
        except Exception as exc:
            log.warning("status page failed: %s", error_line(exc))
            return 503, TEXT, b"status unavailable: the database did not answer\n", {}
        return status, ctype, body, {}
