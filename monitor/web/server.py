"""The HTTP endpoint: GET /metrics, /healthz and the status page at /, with optional TLS and basic auth.

It runs on monitor.httpd: bounded connections, a total deadline per request, one write per response, and no
request line ever logged (a misconfigured client could send a secret in a query string). The status pages
(/ and /tokens/NAME) are functions of monitor.web.routes; this module only dispatches to them.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from sqlalchemy.orm import Session, sessionmaker

from monitor import __version__
from monitor.config.load import HttpConfig
from monitor.httpd import HttpServer, Request, Route
from monitor.httpd import Response as HttpResponse
from monitor.metrics import MetricsRegistry
from monitor.redact import error_line
from monitor.state import Horizons
from monitor.web.routes import TOKEN_PREFIX, PageFunction, fleet_response, token_response

log = logging.getLogger("monitor.web")

Health = Callable[[], tuple[bool, dict[str, Any]]]
Response = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, extra headers

TEXT = "text/plain; charset=utf-8"
OPENMETRICS = "application/openmetrics-text"


class WebServer:
    """Serves /metrics, /healthz and / on `http.listen` from a daemon thread. The status pages read through
    `sessions` and judge tokens by `horizons` (the alert thresholds; `reload` replaces them)."""

    def __init__(
        self,
        http: HttpConfig,
        *,
        registry: CollectorRegistry | None,
        health: Health,
        sessions: sessionmaker[Session],
        horizons: Horizons,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http, self.registry, self.health = http, registry, health
        self.sessions, self.horizons, self.clock = sessions, horizons, clock
        self._server: HttpServer | None = None
        self._credentials = self._expected_credentials(http)

    @staticmethod
    def _expected_credentials(http: HttpConfig) -> bytes | None:
        if http.basic_auth_username is None or http.basic_auth_password is None:
            return None
        return f"{http.basic_auth_username}:{http.basic_auth_password}".encode()

    # --- lifecycle ---------------------------------------------------------------------------------

    def reload(self, horizons: Horizons) -> None:
        """New alert thresholds apply to the next page; address, TLS and basic auth wait for a restart."""
        self.horizons = horizons

    def start(self) -> None:
        """Bind and serve on the hardened server of monitor.httpd: bounded connections and threads, a
        total deadline per request, no accept() spin on EMFILE, every request body read or refused."""
        http = self.http
        routes = [Route("GET", path, self._handle) for path in ("/metrics", "/healthz", "/", "/index.html")]
        routes.append(Route("GET", TOKEN_PREFIX + "{name*}", self._handle))
        server = HttpServer(
            routes,
            host=http.host,
            port=http.port,
            tls_cert_file=http.tls_cert_file,
            tls_key_file=http.tls_key_file,
            name="http",
        )
        server.start()
        self._server = server
        log.info("serving /metrics, /healthz and / on %s://%s:%d", self.scheme, server.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("web server not started")
        return self._server.address[1]

    @property
    def scheme(self) -> str:
        return "https" if self.http.tls_cert_file is not None else "http"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def _handle(self, request: Request) -> HttpResponse:
        if not self.authorised(request.header("authorization")):
            challenge = {"WWW-Authenticate": 'Basic realm="threads-token-monitor", charset="UTF-8"'}
            return HttpResponse(401, b"authentication required\n", TEXT, challenge)
        target = request.path + (f"?{request.query}" if request.query else "")
        status, ctype, body, extra = self.route(
            target, request.header("accept"), request.header("accept-encoding")
        )
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **extra}
        return HttpResponse(status, body, ctype, headers)

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

    def route(self, raw_path: str, accept: str | None, accept_encoding: str | None = None) -> Response:
        path, _, query = raw_path.partition("?")
        if path == "/metrics":
            return self.metrics(accept, accept_encoding)
        if path == "/healthz":
            return self.healthz()
        if path in ("/", "/index.html"):
            return self.status_page(fleet_response, query)
        if path.startswith(TOKEN_PREFIX):
            return self.status_page(token_response, path)
        return 404, TEXT, b"not found: try /metrics, /healthz or /\n", {}

    def metrics(self, accept: str | None, accept_encoding: str | None = None) -> Response:
        """The exposition in the format `accept` asks for, gzipped when `accept_encoding` allows it."""
        if self.registry is None:
            return 503, TEXT, b"metrics are not available\n", {}
        encoder, content_type = choose_encoder(accept or "")
        gzipped = gzip_accepted(accept_encoding or "")
        try:
            if isinstance(self.registry, MetricsRegistry):  # the daemon's: unchanged state is not re-read
                body = self.registry.render(content_type.startswith(OPENMETRICS), gzipped)
            else:
                body = gzip.compress(encoder(self.registry)) if gzipped else encoder(self.registry)
        except Exception as exc:  # a database outage must cost one scrape, not the server
            log.warning("scrape failed: %s", error_line(exc))
            return 503, TEXT, b"metrics unavailable: the database did not answer\n", {}
        encoding = {"Content-Encoding": "gzip"} if gzipped else {}
        return 200, content_type, body, {"Vary": "Accept-Encoding", **encoding}

    def healthz(self) -> Response:
        try:
            ok, details = self.health()
        except Exception as exc:
            ok, details = False, {"status": "unhealthy", "error": error_line(exc)}
        return (200 if ok else 503), "application/json", json.dumps(details).encode() + b"\n", {}

    def status_page(self, page: PageFunction, request: str) -> Response:
        """A status page for `request` (the query string of /, or the path of /tokens/NAME)."""
        try:
            status, ctype, body = page(
                self.sessions, request, self.clock(), self.horizons, version=__version__
            )
        except UnicodeDecodeError:
            return 404, TEXT, b"not found: the name is not UTF-8\n", {}
        except Exception as exc:
            log.warning("status page failed: %s", error_line(exc))
            return 503, TEXT, b"status unavailable: the database did not answer\n", {}
        return status, ctype, body, {}
