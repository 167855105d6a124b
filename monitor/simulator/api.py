"""A Threads API simulator (graph.threads.net) for the tests, `demo` and `bench/`.

It answers `/v1.0/debug_token` and `/refresh_access_token` like the real API (SPEC section 3), counts calls
per token, and injects faults. Each response goes out in ONE socket write: writing headers and body apart
stalls ~40 ms per keep-alive request on delayed ACKs. Token strings are kept in memory only, never logged.

This module is the API's state and answers and imports nothing of `monitor`; the HTTP server, the `/__sim/`
control surface and the command line live in server.py, whose `Simulator` serves a `ThreadsApi`.

Choices where the real API is undocumented:
- A refresh answers a NEW random string; the old string keeps working until its own expiry.
- App mismatch: HTTP 400, code 100, "(#100) The App_id in the input_token did not match the Viewing App".
- A "dev_mode" app rejects user-token inspectors (code 100) but accepts its app token `TH|<app_id>|<secret>`.
- A refresh is refused for a token younger than 24 h with HTTP 400, code 190 and no subcode.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets as rnd
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any

DAY = 86400.0
DEBUG, REFRESH = "debug_token", "refresh_access_token"
PATHS = {
    DEBUG: re.compile(r"^(/v\d+\.\d+)?/debug_token/?$"),
    REFRESH: re.compile(r"^(/v\d+\.\d+)?/refresh_access_token/?$"),
}
_INVALID = {  # state -> (subcode, message)
    "expired": (
        463,
        "Error validating access token: Session has expired on {when}. The current time is {now}.",
    ),
    "password_changed": (
        460,
        "Error validating access token: The session has been invalidated because the user changed their "
        "password or Facebook has changed the session for security reasons.",
    ),
    "revoked": (
        466,
        "Error validating access token: The session was invalidated explicitly using an API call.",
    ),
}
CANNOT_PARSE = "Invalid OAuth access token - Cannot parse access token"
FAULT_KINDS = frozenset(
    {
        "latency",
        "http_error",
        "graph_error",
        "throttle",
        "malformed",
        "truncated",
        "shape",
        "reset",
        "oversized",
    }
    | {"trickle", "usage"}
)
_MODIFIERS = ("latency", "usage")  # combine with one other fault instead of replacing it


def token_digest(token: str) -> str:
    """12 hex chars of SHA-256: identifies a token in output without revealing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def envelope(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    err["fbtrace_id"] = "A" + rnd.token_hex(10)
    return {"error": err}


def usage_headers(percent: float, minutes: float, app_id: str) -> dict[str, str]:
    app = {"call_count": percent, "total_cputime": percent, "total_time": percent}
    entry = {"type": "threads", **app, "estimated_time_to_regain_access": minutes}
    return {"X-App-Usage": json.dumps(app), "X-Business-Use-Case-Usage": json.dumps({app_id: [entry]})}


class Fault:
    def __init__(
        self, kind: str, token: str | None, endpoint: str | None, count: int | None, params: dict
    ) -> None:
        self.kind, self.token, self.endpoint, self.remaining, self.params = (
            kind,
            token,
            endpoint,
            count,
            params,
        )

    def matches(self, endpoint: str) -> bool:
        return (self.endpoint in (None, endpoint)) and (self.remaining is None or self.remaining > 0)


class ThreadsApi:
    """The simulated API's state and answers. All state sits behind one lock; callers may be many threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, dict[str, Any]] = {}
        self._inspectors: dict[str, str] = {}  # inspector string -> app_id
        self._tokens: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._log: list[tuple[float, str, str]] = []

    # --- registry --------------------------------------------------------------------------------------
    def add_app(
        self,
        app_id: str,
        inspector: str,
        *,
        state: str = "ok",
        application: str = "Demo App",
        app_secret: str | None = None,
    ) -> None:
        """Register an app, its inspector user token, and optionally its secret (for `TH|id|secret`)."""
        if state not in ("ok", "invalid", "dev_mode"):
            raise ValueError(f"unknown app state {state!r}")
        with self._lock:
            self._apps[app_id] = {"state": state, "application": application, "app_secret": app_secret}
            self._inspectors[inspector] = app_id
            if app_secret:
                self._inspectors[f"TH|{app_id}|{app_secret}"] = app_id

    def add_token(
        self,
        token: str,
        *,
        app_id: str,
        user_id: str = "1000",
        state: str = "valid",
        expires_at: float | None = None,
        data_access_expires_at: float | None = None,
        issued_at: float | None = None,
        scopes: Sequence[str] = ("threads_basic", "threads_content_publish"),
        type: str = "USER",  # noqa: A002 - the API's field name
    ) -> None:
        """Register a token. Defaults: issued 1 d ago, expires 60 d and data access 90 d after issue."""
        if state not in ("valid", "garbage", *_INVALID):
            raise ValueError(f"unknown token state {state!r}")
        issued = self.clock() - DAY if issued_at is None else issued_at
        record = {
            "app_id": app_id,
            "user_id": user_id,
            "state": state,
            "issued_at": issued,
            "expires_at": issued + 60 * DAY if expires_at is None else expires_at,
            "data_access_expires_at": issued + 90 * DAY
            if data_access_expires_at is None
            else data_access_expires_at,
            "scopes": list(scopes),
            "type": type,
        }
        with self._lock:
            self._tokens[token] = record

    def update_token(self, token: str, **fields: Any) -> None:
        """Change fields of a registered token (KeyError when unknown)."""
        with self._lock:
            self._tokens[token].update(fields)

    def revoke(self, token: str) -> tuple[str, str, str | None]:
        """Revoke a token as a user removing the app would: (app_id, user_id, app secret or None), which is
        what a deauthorize callback for it needs (KeyError when the token is unknown)."""
        with self._lock:
            record = self._tokens[token]
            record["state"] = "revoked"
            return record["app_id"], record["user_id"], self._apps[record["app_id"]].get("app_secret")

    def token_state(self, token: str) -> dict[str, Any]:
        """A copy of the token's record, with `state` as it is now (a passed expiry reads "expired")."""
        with self._lock:
            record = dict(self._tokens[token])
        record["state"] = self._effective_state(record)
        return record

    def _effective_state(self, record: dict[str, Any]) -> str:
        expires = record["expires_at"]
        if record["state"] == "valid" and expires and expires <= self.clock():
            return "expired"
        return str(record["state"])

    # --- faults and counters ---------------------------------------------------------------------------
    def set_fault(
        self,
        kind: str,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        count: int | None = None,
        **params: Any,
    ) -> None:
        """Inject a fault for `token` (None: any) on `endpoint` (None: both), `count` times (None: always)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(Fault(kind, token, endpoint, count, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, token: str | None = None, endpoint: str | None = None) -> int:
        """How many requests arrived, optionally only for one token and/or endpoint."""
        with self._lock:
            return sum(
                n
                for (ep, tok), n in self._counts.items()
                if (token is None or tok == token) and (endpoint is None or ep == endpoint)
            )

    def call_log(self) -> list[tuple[float, str, str]]:
        """(time, endpoint, token digest) per request, oldest first."""
        with self._lock:
            return list(self._log)

    def reset_counters(self) -> None:
        with self._lock:
            self._counts.clear()
            self._log.clear()

    def record_call(self, endpoint: str, token: str) -> list[Fault]:
        """Count the call and pick its faults: per-token ones first (newest first), then global ones."""
        with self._lock:
            self._counts[(endpoint, token)] += 1
            self._log.append((self.clock(), endpoint, token_digest(token)))
            ordered = [f for f in reversed(self._faults) if f.token == token and f.matches(endpoint)]
            ordered += [f for f in reversed(self._faults) if f.token is None and f.matches(endpoint)]
            chosen: list[Fault] = []
            for kind_group in (*_MODIFIERS, None):
                for fault in ordered:
                    is_mod = fault.kind in _MODIFIERS
                    if (kind_group is None and not is_mod) or fault.kind == kind_group:
                        chosen.append(fault)
                        break
            for fault in chosen:
                if fault.remaining is not None:
                    fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
            return chosen

    def app_of(self, token: str) -> str:
        """The app id a token belongs to ("0" when unknown): keys the business usage header."""
        with self._lock:
            record = self._tokens.get(token)
        return str(record["app_id"]) if record else "0"

    # --- answers ---------------------------------------------------------------------------------------
    def debug_answer(self, input_token: str, inspector: str) -> tuple[int, dict[str, Any], str]:
        """(status, body, app_id) for a debug_token request, without faults."""
        with self._lock:
            app_id = self._inspectors.get(inspector)
            app = self._apps.get(app_id or "")
            record = dict(self._tokens[input_token]) if input_token in self._tokens else None
        if app is None or app["state"] == "invalid":
            return 400, envelope(190, CANNOT_PARSE), app_id or "0"
        if app["state"] == "dev_mode" and not inspector.startswith("TH|"):
            return 400, envelope(100, "The app associated with this request is in dev mode"), str(app_id)
        if record is None or record["state"] == "garbage":
            return (
                200,
                {"data": {"error": {"code": 190, "message": CANNOT_PARSE}, "is_valid": False, "scopes": []}},
                str(app_id),
            )
        if record["app_id"] != app_id:
            msg = "(#100) The App_id in the input_token did not match the Viewing App"
            return 400, envelope(100, msg), str(app_id)
        return 200, {"data": self._token_data(record, app["application"])}, str(app_id)

    def _token_data(self, record: dict[str, Any], application: str) -> dict[str, Any]:
        state = self._effective_state(record)
        data: dict[str, Any] = {
            "app_id": record["app_id"],
            "type": record["type"],
            "application": application,
            "data_access_expires_at": int(record["data_access_expires_at"] or 0),
            "expires_at": int(record["expires_at"] or 0),
            "is_valid": state == "valid",
            "issued_at": int(record["issued_at"]),
            "scopes": list(record["scopes"]),
            "user_id": record["user_id"],
        }
        if state != "valid":
            subcode, message = _INVALID[state]
            data["error"] = {"code": 190, "message": self._message(message, record), "subcode": subcode}
            if state == "password_changed":
                data["expires_at"] = 0
        return data

    def _message(self, template: str, record: dict[str, Any]) -> str:
        return template.format(when=formatdate(record["expires_at"] or 0), now=formatdate(self.clock()))

    def refresh_answer(self, token: str, grant_type: str) -> tuple[int, dict[str, Any], str]:
        """(status, body, app_id) for a refresh request, without faults; stores the new token on success."""
        with self._lock:
            record = dict(self._tokens[token]) if token in self._tokens else None
        if grant_type != "th_refresh_token":
            return 400, envelope(100, "(#100) Param grant_type must be th_refresh_token"), "0"
        if record is None or record["state"] == "garbage":
            return 400, envelope(190, CANNOT_PARSE), "0"
        state, now = self._effective_state(record), self.clock()
        if state != "valid":
            subcode, message = _INVALID[state]
            return 400, envelope(190, self._message(message, record), subcode), record["app_id"]
        if record["issued_at"] > now - DAY:
            msg = "Error validating access token: the token must be at least 24 hours old to be refreshed"
            return 400, envelope(190, msg), record["app_id"]
        if "threads_basic" not in record["scopes"]:
            return (
                400,
                envelope(10, "(#10) Application does not have permission for this action"),
                record["app_id"],
            )
        new = "THAA" + rnd.token_urlsafe(36)
        # `refresh_lags` (update_token(t, refresh_lags=True)): an API whose debug_token keeps showing the old
        # expiry for the new string, as a lagging or misbehaving API would.
        fresh = (
            dict(record)
            if record.get("refresh_lags")
            else {
                **record,
                "issued_at": now,
                "expires_at": now + 60 * DAY,
                "data_access_expires_at": now + 90 * DAY,
            }
        )
        with self._lock:
            self._tokens[new] = fresh
        return (
            200,
            {"access_token": new, "token_type": "bearer", "expires_in": int(60 * DAY)},
            record["app_id"],
        )
