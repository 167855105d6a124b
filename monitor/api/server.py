"""The registry over HTTP (SPEC 15), on the [callbacks] listener with the recheck API's bearer token:

    PUT    /api/v1/tokens/NAME        {"app", "token", "labels", "auto_refresh"}: 201 created, 200 replaced
    GET    /api/v1/tokens/NAME        its state, fingerprint, labels (never the string)
    GET    /api/v1/tokens?app=&state=&cursor=&limit=     a page by name, `next_cursor` for the next
    DELETE /api/v1/tokens/NAME        204; its alerts end as "removed"
    POST   /api/v1/tokens/NAME/mute   {"for": "7d"} or {"until": ...}, "comment"; DELETE .../mute unmutes

Every request is authorised by the listener's own bearer check (`authorised`, the recheck API's); bodies
over 64 KiB are refused unread (413); writes go through the registry's one write layer (monitor.registry,
the CLI's rules: a source's token is edited at its source, 409), at most MAX_WRITERS at a time (503 beyond);
a new string is checked at once through the budgeted recheck queue, and a PUT waits a moment for that check
so that it can answer the new state. Refusals are counted by `count(operation, outcome)`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.parse import TOKENS_PATH, ApiError, parse_list, parse_mute, parse_put, parse_target
from monitor.api.views import list_tokens, token_view
from monitor.callbacks.store import queue_tokens
from monitor.crypto import Vault
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.httpd import Request, Response, Route
from monitor.redact import error_line
from monitor.registry import (
    RegistryError,
    apply_writes,
    get_token,
    mute_end,
    mute_token,
    plan_writes,
    remove_token,
    unmute_token,
)
from monitor.state import Horizons

__all__ = ["MAX_BODY", "OPERATIONS", "OUTCOMES", "RegistryApi"]

log = logging.getLogger("monitor.api")

MAX_BODY = 64 * 1024
MAX_WRITERS = 4  # writes at once; more are answered 503 (a flood must not queue behind the database)
MAX_WAITERS = 8  # PUTs waiting for their check at once; more answer at once with the check queued
OPERATIONS = ("put", "get", "list", "delete", "mute", "unmute")
OUTCOMES = (
    "ok",
    "created",
    "bad_request",
    "unauthorized",
    "throttled",
    "not_found",
    "conflict",
    "too_large",
    "busy",
    "error",
)
Count = Callable[[str, str], None]


def _refusal_outcome(refused: Response) -> str:
    """The bearer check's refusal as an outcome: 429 while a client is throttled, else 401."""
    return "throttled" if refused.status == 429 else "unauthorized"


class RegistryApi:
    """The routes of the registry API; what they act on arrives as arguments (no daemon in sight)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        vault: Vault,
        refusal: Callable[[Request], Response | None],
        wake: Callable[[], None],
        horizons: Callable[[], Horizons],
        sources: Callable[[], Collection[str]],
        count: Count,
        clock: Callable[[], float] = time.time,
        check_wait: float = 2.0,
    ) -> None:
        self.sessions, self.vault, self.refusal, self.wake = sessions, vault, refusal, wake
        self.horizons, self.sources, self.count, self.clock = horizons, sources, count, clock
        self.check_wait = check_wait
        self._writers = threading.BoundedSemaphore(MAX_WRITERS)
        self._waiters = threading.BoundedSemaphore(MAX_WAITERS)

    def routes(self) -> list[Route]:
        item = TOKENS_PATH + "/{name*}"

        def route(method: str, pattern: str, handler: Callable[[Request], Response]) -> Route:
            return Route(method, pattern, handler, MAX_BODY, self.oversized)

        return [
            route("GET", TOKENS_PATH, self.listing),
            route("PUT", item, self.put),
            route("GET", item, self.get),
            route("DELETE", item, self.delete),
            route("POST", item, self.post),
        ]

    # --- the boundary ------------------------------------------------------------------------------

    def _serve(
        self, op: str, request: Request, work: Callable[[], Response], write: bool = False
    ) -> Response:
        """Authorise, run `work`, turn refusals into answers, count every outcome."""
        refused = self.refusal(request)
        if refused is not None:
            return self._answer(op, _refusal_outcome(refused), refused)
        if write and not self._writers.acquire(blocking=False):
            return self._answer(op, "busy", _json(503, {"error": "busy: try again"}, {"Retry-After": "1"}))
        try:
            response = work()
        except ApiError as exc:
            outcome = "not_found" if exc.status == 404 else "bad_request"
            response = _json(exc.status, {"error": exc.message})
        except _Conflict as exc:
            outcome, response = "conflict", _json(409, {"error": str(exc)})
        except _NotFound as exc:
            outcome, response = "not_found", _json(404, {"error": str(exc)})
        except RegistryError as exc:
            outcome, response = "bad_request", _json(400, {"error": str(exc)})
        except Exception as exc:  # a database outage: nothing half-done (one transaction), try again later
            log.error("registry API %s failed: %s", op, error_line(exc))
            outcome, response = "error", _json(503, {"error": "unavailable: try again"}, {"Retry-After": "5"})
        else:
            outcome = "created" if response.status == 201 else "ok"
        finally:
            if write:
                self._writers.release()
        return self._answer(op, outcome, response)

    def _answer(self, op: str, outcome: str, response: Response) -> Response:
        self.count(op, outcome)
        return response

    def oversized(self, request: Request) -> Response:
        """A body over 64 KiB, never read: 401 (429 while guessing) without the bearer token, else 413."""
        op = _operation(request)
        refused = self.refusal(request)
        if refused is not None:
            return self._answer(op, _refusal_outcome(refused), refused)
        return self._answer(op, "too_large", _json(413, {"error": f"the body is over {MAX_BODY} bytes"}))

    # --- handlers ----------------------------------------------------------------------------------

    def get(self, request: Request) -> Response:
        def work() -> Response:
            target = parse_target(request.path)
            if target.mute:
                raise ApiError("no such resource", 404)
            return _json(200, self._view(target.name))

        return self._serve("get", request, work)

    def listing(self, request: Request) -> Response:
        def work() -> Response:
            query = parse_list(request.query)
            with self.sessions() as s:

                def app_id(name: str) -> int | None:
                    return s.scalar(select(App.id).where(App.name == name))

                return _json(200, list_tokens(s, query, self.horizons(), self.clock(), app_id))

        return self._serve("list", request, work)

    def put(self, request: Request) -> Response:
        return self._serve("put", request, lambda: self._put(request), write=True)

    def _put(self, request: Request) -> Response:
        target = parse_target(request.path)
        if target.mute:
            raise ApiError("use POST to mute a token", 405)
        write = parse_put(target.name, request.body)
        now, sources = self.clock(), self.sources()
        with transaction(self.sessions) as s:
            plan = plan_writes(s, [write], replace=True, sources=sources)
            have = plan.existing.get(target.name)
            if have is not None and have.source is not None and have.source in sources:
                raise _Conflict(f"token {target.name!r} belongs to source {have.source!r}: change it there")
            if plan.problems:
                raise ApiError(plan.problems[0][1])
            apply_writes(s, self.vault, plan, now=now, via="api")
            changed = bool(plan.added or plan.replaced)
            if changed:
                token_id = get_token(s, target.name).id
                queue_tokens(s, [Token.id == token_id], "recheck", now, new_string=True)
        checked = False
        if changed:
            self.wake()
            checked = self._wait_checked(target.name, now)
        body = self._view(target.name) | {"created": bool(plan.added), "checked": checked}
        return _json(201 if plan.added else 200, body)

    def delete(self, request: Request) -> Response:
        def work() -> Response:
            target = parse_target(request.path)
            return self._unmute(target.name) if target.mute else self._delete(target.name)

        return self._serve(_operation(request), request, work, write=True)

    def _delete(self, name: str) -> Response:
        with transaction(self.sessions) as s:
            token = _existing(s, name)
            if token.source is not None and token.source in self.sources():
                raise _Conflict(f"token {name!r} belongs to source {token.source!r}: remove it there")
            remove_token(s, name, now=self.clock(), sources=self.sources())
        return Response(204)

    def post(self, request: Request) -> Response:
        def work() -> Response:
            target = parse_target(request.path)
            if not target.mute:
                raise ApiError("no such resource (POST .../mute mutes a token)", 404)
            wanted, now = parse_mute(request.body), self.clock()
            until = mute_end(now, wanted.duration, wanted.until)
            with transaction(self.sessions) as s:
                _existing(s, target.name)
                mute_token(s, target.name, until, wanted.comment, now=now, via="api")
            return _json(200, self._view(target.name))

        return self._serve("mute", request, work, write=True)

    def _unmute(self, name: str) -> Response:
        with transaction(self.sessions) as s:
            _existing(s, name)
            unmute_token(s, name, now=self.clock(), via="api")
        return _json(200, self._view(name))

    # --- reads -------------------------------------------------------------------------------------

    def _view(self, name: str) -> dict[str, Any]:
        with self.sessions() as s:
            view = token_view(s, name, self.horizons(), self.clock())
        if view is None:
            raise _NotFound(f"no token named {name!r}")
        return view

    def _wait_checked(self, name: str, since: float) -> bool:
        """Whether the token's new string was checked within `check_wait` seconds (a bounded number of PUTs
        wait at once: the others answer at once, their check queued)."""
        if not self._waiters.acquire(blocking=False):
            return False
        try:
            deadline = time.monotonic() + self.check_wait
            while True:
                with self.sessions() as s:
                    at = s.scalar(select(Token.last_check_at).where(Token.name == name))
                if at is not None and at >= since:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)  # the server waiting for a check, not a test waiting
        finally:
            self._waiters.release()


class _Conflict(Exception):
    """A source owns the token: edit it there (409)."""


class _NotFound(Exception):
    """No such token (404)."""


def _existing(session: Session, name: str) -> Token:
    try:
        return get_token(session, name)
    except RegistryError:
        raise _NotFound(f"no token named {name!r}") from None


def _json(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response.json(status, value)
    return Response(response.status, response.body, response.content_type, headers or {})


def _operation(request: Request) -> str:
    if request.path.endswith("/mute"):
        return "mute" if request.method == "POST" else "unmute"
    return {"PUT": "put", "DELETE": "delete", "POST": "mute"}.get(
        request.method, "list" if request.path == TOKENS_PATH else "get"
    )
