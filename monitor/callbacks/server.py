"""The [callbacks] listener: Meta's deauthorize callback and the recheck API, served by monitor.httpd.

It verifies and answers; what a callback means is the caller's, passed in as plain callables:
`secret_for(app)` gives an app's secret (None: unknown app), `on_deauthorize(...)` stores a verified
callback before the 200 goes out (if it raises, the answer is 503 so Meta tries again; False: a replay of
one stored already, answered 200 and counted as such), `on_recheck(request)` queues checks and says how
many (an int, or the counts of the 202 answer: queued, deferred, refused), `count(kind, outcome)` feeds
threads_monitor_callbacks_total, `now()` is the clock.

Every bearer-protected route asks `authorised(request)` (or `bearer_refusal`, for the answer to give):
the one place the API token is compared, guessing throttled and refusals counted and logged.

A refused callback gets one fixed word, whatever the reason (a prober learns nothing, not even whether an
app exists); the count says why. No secret, bearer token or signed_request is ever logged or answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal, cast

from monitor.callbacks.bearer import BearerGuard
from monitor.callbacks.deletion_http import DeletionDoor, DeletionHooks
from monitor.callbacks.recheck import (
    MAX_RECHECK_BODY,
    MAX_RECHECK_TOKENS,
    RecheckError,
    RecheckRequest,
    parse_recheck,
)
from monitor.callbacks.signed import MAX_BODY, Deauthorization, SignedRequestError, verify_callback
from monitor.httpd import HttpServer, Limits, Request, Response, Route
from monitor.redact import error_line

__all__ = [
    "DEAUTHORIZE_PATH",
    "KINDS",
    "MAX_RECHECK_BODY",
    "MAX_RECHECK_TOKENS",
    "OUTCOMES",
    "PLATFORMS",
    "PLATFORM_DEAUTHORIZE_PATH",
    "RECHECK_PATH",
    "CallbackServer",
    "Kind",
    "Outcome",
    "RecheckError",
    "RecheckRequest",
    "parse_recheck",
]

log = logging.getLogger("monitor.callbacks")

Kind = Literal["deauthorize", "data_deletion", "recheck", "api"]  # api: the other bearer-protected routes
Outcome = Literal[
    "accepted", "replayed", "bad_signature", "unknown_app", "stale", "bad_request", "unauthorized",
    "throttled",
]  # fmt: skip
KINDS: tuple[Kind, ...] = ("deauthorize", "data_deletion", "recheck", "api")
OUTCOMES: tuple[Outcome, ...] = (
    "accepted",
    "replayed",
    "bad_signature",
    "unknown_app",
    "stale",
    "bad_request",
    "unauthorized",
    "throttled",
)

DEAUTHORIZE_PATH = "/callbacks/threads/{app}/deauthorize"  # SPEC 11's path: one case of the next
PLATFORM_DEAUTHORIZE_PATH = "/callbacks/{platform}/{app}/deauthorize"
PLATFORMS = ("threads", "facebook", "instagram")
RECHECK_PATH = "/api/v1/recheck"
REFUSED = "refused"
# The listener faces the internet: these are its bounds unless [callbacks] gives others (monitor.httpd).
LIMITS = Limits(max_connections_per_client=8, head_deadline=5.0, idle_timeout=5.0, close_after_error=True)

# Stores a verified callback before the 200 goes out; False: a replay of one stored already (no news).
OnDeauthorize = Callable[[str, str, int, bytes, str], bool | None]


class CallbackServer:
    """Serves POST /callbacks/{platform}/{app}/deauthorize; with `deletion`, Meta's data deletion request
    and its status pages (monitor.callbacks.deletion_http); with an `api_token`, POST /api/v1/recheck.
    `platform_of(app)` is the platform of a registered app (a callback on another platform's path is
    refused as an unknown app)."""

    def __init__(
        self,
        *,
        secret_for: Callable[[str], str | None],
        on_deauthorize: OnDeauthorize,
        on_recheck: Callable[[RecheckRequest], int | Mapping[str, int]],
        count: Callable[[Kind, Outcome], None],
        now: Callable[[], float] = time.time,
        api_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert_file: Path | str | None = None,
        tls_key_file: Path | str | None = None,
        limits: Limits | None = None,
        api_routes: Sequence[Route] = (),
        platform_of: Callable[[str], str | None] = lambda app: "threads",
        deletion: DeletionHooks | None = None,
    ) -> None:
        self.secret_for, self.on_deauthorize, self.on_recheck = secret_for, on_deauthorize, on_recheck
        self.platform_of = platform_of
        self.deletion = (
            None
            if deletion is None
            else DeletionDoor(
                deletion,
                app_secret=self.app_secret,
                count=self._count_deletion,
                now=now,
                own_url=lambda: self.url,  # the listener's, once bound
            )
        )
        self.api_routes = list(api_routes)  # more of the API (the registry: monitor.api), behind the bearer
        self.count, self.now = count, now
        self._api_token = api_token
        self.bearer = BearerGuard(api_token)
        self.http = HttpServer(
            self.routes(),
            host=host,
            port=port,
            limits=limits or LIMITS,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            name="callbacks",
        )

    def routes(self) -> list[Route]:
        """The deauthorize route, the data deletion door's, and the API's routes when an API token is set
        (else they answer 404)."""
        routes = [
            Route("POST", PLATFORM_DEAUTHORIZE_PATH, self.deauthorize, MAX_BODY, self.deauthorize_oversized),
            *(self.deletion.routes() if self.deletion is not None else ()),
        ]
        if self._api_token is not None:
            routes.append(Route("POST", RECHECK_PATH, self.recheck, MAX_RECHECK_BODY, self.recheck_oversized))
            routes.extend(self.api_routes)
        return routes

    def start(self) -> None:
        self.http.start()

    def stop(self) -> None:
        self.http.stop()

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def address(self) -> tuple[str, int]:
        return self.http.address

    # --- deauthorize ------------------------------------------------------------------------------

    def app_secret(self, app: str, platform: str) -> str | None:
        """The secret verifying `app`'s callbacks on `platform`'s path; None: refuse (unknown platform or
        app, an app of another platform, or no secret stored)."""
        if platform not in PLATFORMS or self.platform_of(app) != platform:
            return None
        return self.secret_for(app)

    def deauthorize(self, request: Request) -> Response:
        """200 once a verified callback is stored; 400 (counted by reason) for anything refused."""
        app = request.params["app"]
        secret = self.app_secret(app, request.params["platform"])
        if secret is None:
            return self._refuse("deauthorize", "unknown_app")
        try:
            verified = verify_callback(request.body, request.header("content-type"), secret, self.now())
        except SignedRequestError as exc:
            return self._refuse("deauthorize", exc.reason)
        return self._store(app, verified, request, secret)

    def deauthorize_oversized(self, request: Request) -> Response:
        """A body over 8 KiB, never read: refused like any bad request (an unknown app stays one)."""
        known = self.app_secret(request.params["app"], request.params["platform"]) is not None
        return self._refuse("deauthorize", "bad_request" if known else "unknown_app")

    def _store(self, app: str, verified: Deauthorization, request: Request, secret: str) -> Response:
        content_type = request.header("content-type") or ""
        try:
            stored = self.on_deauthorize(
                app, verified.user_id, verified.issued_at, request.body, content_type
            )
        except Exception as exc:  # not stored, so not acknowledged: Meta sends it again
            log.error("deauthorize callback for app %s not stored: %s", app, error_line(exc, [secret]))
            return Response.text(503, "unavailable", {"Retry-After": "10"})
        if (
            stored is False
        ):  # a replay: stored before, so acknowledged, and nothing more (not even a log line)
            self.count("deauthorize", "replayed")
            return Response.text(200, "ok")
        self.count("deauthorize", "accepted")
        log.info("deauthorize callback accepted: app %s, user %s", app, verified.user_id)
        return Response.text(200, "ok")

    # --- recheck ----------------------------------------------------------------------------------

    def recheck(self, request: Request) -> Response:
        """202 {"queued": N} for an authorised, valid request; 401 without the bearer token (429 once the
        client has guessed too often); 400 else."""
        refusal = self.bearer_refusal(request)
        if refusal is not None:
            return refusal
        try:
            wanted = parse_recheck(request.body)
        except RecheckError as exc:
            self.count("recheck", "bad_request")
            return Response.json(400, {"error": str(exc)})
        try:
            queued = self.on_recheck(wanted)
        except Exception as exc:
            log.error("recheck could not be queued: %s", error_line(exc, [self._api_token]))
            return Response.json(503, {"error": "the recheck could not be queued; try again"})
        self.count("recheck", "accepted")
        return Response.json(202, {"queued": queued} if isinstance(queued, int) else dict(queued))

    def recheck_oversized(self, request: Request) -> Response:
        refusal = self.bearer_refusal(request)
        if refusal is not None:
            return refusal
        self.count("recheck", "bad_request")
        return Response.json(413, {"error": f"the body is over {MAX_RECHECK_BODY} bytes"})

    def authorised(self, request: Request) -> bool:
        """True only for `Authorization: Bearer <api_token>` (compared in constant time) from a client that
        has not been guessing: every bearer-protected route asks this, and only this. A refusal is counted
        (`unauthorized`, or `throttled` once the client has no attempt left) and logged with the client's
        address, never with what it sent: a client's first refusal and its throttling, not every guess."""
        return self.bearer_refusal(request) is None

    def bearer_refusal(self, request: Request) -> Response | None:
        """None when `authorised`; else the answer: 401, or 429 with Retry-After while throttled."""
        client = request.client
        fresh = self.bearer.fresh(client)
        verdict = self.bearer.check(request.header("authorization"), client)
        if verdict == "ok":
            return None
        kind: Kind = "recheck" if request.path == RECHECK_PATH else "api"
        self.count(kind, verdict)
        if verdict == "throttled":
            retry = str(self.bearer.retry_after(client))
            return Response.text(429, "too many requests", {"Retry-After": retry})
        if fresh:
            log.warning("API request from %s refused: wrong or missing bearer token", client or "?")
        if self.bearer.throttled(client):
            log.warning(
                "API client %s throttled after %d wrong or missing bearer tokens: refused for %d s, "
                "then one attempt per %g s",
                client or "?",
                self.bearer.burst,
                self.bearer.retry_after(client),
                self.bearer.refill,
            )
        return Response.text(
            401, "unauthorized", {"WWW-Authenticate": 'Bearer realm="threads-token-monitor"'}
        )

    def _count_deletion(self, outcome: str) -> None:
        self.count("data_deletion", cast(Outcome, outcome))

    def _refuse(self, kind: Kind, outcome: Outcome) -> Response:
        self.count(kind, outcome)
        log.debug("%s callback refused: %s", kind, outcome)
        return Response.text(400, REFUSED)
