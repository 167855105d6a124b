"""The data deletion door of the [callbacks] listener: `POST /callbacks/{platform}/{app}/data-deletion` and
`GET /deletion/<code>` (SPEC 16).

The POST is verified exactly as a deauthorize callback is (the same `signed_request`, secret, 24 h window,
8 KiB cap, one fixed word for any refusal) and then handed to `on_data_deletion(app, platform, verified,
secret)`, which deletes and records before the answer goes out and returns the record (and whether it was
a replay: the same request answers the same code and does nothing more). The GET shows a person that their
request is done: a fixed page around the record's date; nothing of the request is ever echoed back.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.callbacks.deletion import CODE_RE, DeletionRecord, status_url
from monitor.callbacks.signed import MAX_BODY, Deauthorization, SignedRequestError, verify_callback
from monitor.httpd import Request, Response, Route
from monitor.redact import error_line

__all__ = [
    "DATA_DELETION_PATH",
    "STATUS_PATH",
    "DeletionDoor",
    "DeletionHooks",
    "OnDataDeletion",
    "render_status",
]

log = logging.getLogger("monitor.callbacks")

DATA_DELETION_PATH = "/callbacks/{platform}/{app}/data-deletion"
STATUS_PATH = "/deletion/{code}"
HTML = "text/html; charset=utf-8"
# The status page loads nothing, runs nothing and may not be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# Deletes and records a verified request before the answer goes out: (its record, True if a replay).
OnDataDeletion = Callable[[str, str, Deauthorization, str], tuple[DeletionRecord, bool]]


@dataclass(frozen=True)
class DeletionHooks:
    """What the door acts on: `on_data_deletion`, `find(code)` (the record of a code, or None) and
    `public_url()` (the base Meta's users see; None: the listener's own URL; a callable, as a reload may
    change it)."""

    on_data_deletion: OnDataDeletion
    find: Callable[[str], DeletionRecord | None]
    public_url: Callable[[], str | None] = lambda: None


class DeletionDoor:
    """The two routes, given `hooks`, `app_secret(app, platform)` (None refuses: unknown app, or not of that
    platform), `count(outcome)`, the clock and the listener's own URL (the default public URL)."""

    def __init__(
        self,
        hooks: DeletionHooks,
        *,
        app_secret: Callable[[str, str], str | None],
        count: Callable[[str], None],
        now: Callable[[], float],
        own_url: Callable[[], str],
    ) -> None:
        self.on_data_deletion, self.find = hooks.on_data_deletion, hooks.find
        self.app_secret, self.count, self.now = app_secret, count, now
        self.public_url = lambda: hooks.public_url() or own_url()

    def routes(self) -> list[Route]:
        return [
            Route("POST", DATA_DELETION_PATH, self.data_deletion, MAX_BODY, self.oversized),
            Route("GET", STATUS_PATH, self.status_page),
        ]

    def data_deletion(self, request: Request) -> Response:
        """200 with `{"url", "confirmation_code"}` once done and recorded; 400 for anything refused, with
        nothing deleted; 503 if it could not be done (nothing deleted either: Meta sends it again)."""
        app, platform = request.params["app"], request.params["platform"]
        secret = self.app_secret(app, platform)
        if secret is None:
            return self._refuse("unknown_app")
        try:
            verified = verify_callback(request.body, request.header("content-type"), secret, self.now())
        except SignedRequestError as exc:
            return self._refuse(exc.reason)
        try:
            record, replayed = self.on_data_deletion(app, platform, verified, secret)
        except Exception as exc:  # rolled back: nothing deleted, nothing acknowledged
            log.error("data deletion request for app %s not done: %s", app, error_line(exc, [secret]))
            return Response.text(503, "unavailable", {"Retry-After": "10"})
        self.count("replayed" if replayed else "accepted")
        if not replayed:
            log.info("data deletion request for app %s done: confirmation %s", app, record.code)
        code = record.code
        return Response.json(200, {"url": status_url(self.public_url(), code), "confirmation_code": code})

    def oversized(self, request: Request) -> Response:
        known = self.app_secret(request.params["app"], request.params["platform"]) is not None
        return self._refuse("bad_request" if known else "unknown_app")

    def status_page(self, request: Request) -> Response:
        """The page of a known code; 404 (a fixed text) for any other, shaped like one or not."""
        code = request.params["code"]
        record = self.find(code) if CODE_RE.fullmatch(code) else None
        if record is None:
            return Response.text(404, "not found")
        return Response(200, render_status(record).encode("utf-8"), HTML, PAGE_HEADERS)

    def _refuse(self, outcome: str) -> Response:
        self.count(outcome)
        log.debug("data deletion callback refused: %s", outcome)
        return Response.text(400, "refused")


def render_status(record: DeletionRecord) -> str:
    """The page a person sees: their request's code and that it is done (when, in UTC). Nothing else: not
    the app's name, not what was held."""
    code = html.escape(record.code)
    when = datetime.fromtimestamp(record.done_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Data deletion request: done</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}"
        "code{word-break:break-all}</style></head><body>"
        "<h1>Your data deletion request is done</h1>"
        f"<p>Confirmation code <code>{code}</code>.</p>"
        f"<p>Completed on {html.escape(when)}: the token monitoring service deleted every record it held "
        "about you (access tokens, their check history, callbacks and alerts naming you). "
        "Nothing about you remains in it.</p>"
        "</body></html>\n"
    )
