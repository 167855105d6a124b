"""A Meta Graph API simulator (Threads, Facebook, Instagram) for the tests, `demo` and `bench/`.

`MetaApi` is the simulated world without HTTP: apps (each of one platform), tokens of every kind, call
counters and faults, and the answers of each platform's endpoints (SPEC sections 3 and 16). server.py serves
it over HTTP; the platforms' rules live in threads.py, facebook.py and instagram.py, one dict below maps a
platform's name to its module's `Platform`. This module and those below it import nothing of `monitor`.

Paths: `/threads/...`, `/facebook/...` and `/instagram/...` speak that platform only (a host does not know
another platform's tokens); a bare path (`/v1.0/debug_token`, `/refresh_access_token`, `/me`) speaks the
platform of the app its credential belongs to (Threads when none is known), or the one `default_platform`
pins. A version segment (`/v1.0`, `/v25.0`) is optional everywhere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from monitor.simulator.base import Answer, Platform
from monitor.simulator.facebook import Facebook
from monitor.simulator.faults import FAULT_KINDS, Fault, Ledger
from monitor.simulator.instagram import Instagram
from monitor.simulator.kinds import TOKEN_STATES, set_targets, token_record
from monitor.simulator.registry import APP_STATES, INSTAGRAM_DEBUG_MODES, Registry
from monitor.simulator.threads import Threads
from monitor.simulator.wire import (
    DAY,
    DEBUG,
    ENDPOINTS,
    EXCHANGE,
    ME,
    REFRESH,
    token_digest,
)

__all__ = [
    "DAY",
    "DEBUG",
    "ENDPOINTS",
    "EXCHANGE",
    "FAULT_KINDS",
    "ME",
    "PLATFORMS",
    "REFRESH",
    "Call",
    "Fault",
    "MetaApi",
    "ThreadsApi",
    "token_digest",
]

PLATFORMS: dict[str, Platform] = {p.name: p for p in (Threads(), Facebook(), Instagram())}
_PREFIX = re.compile(r"/(threads|facebook|instagram)(?=/)")
_VERSION = re.compile(r"/v\d+\.\d+(?=/)")
_CREDENTIALS = ("access_token", "input_token", "fb_exchange_token")  # what tells a bare path's platform


class Call(NamedTuple):
    """One API request, routed: which platform answers, which endpoint, and the token it is about."""

    platform: str
    endpoint: str
    token: str


class MetaApi(Ledger):
    """The simulated APIs' state and answers (the Ledger: counters, call log, faults). Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time, default_platform: str | None = None) -> None:
        super().__init__(clock)
        if default_platform is not None and default_platform not in PLATFORMS:
            raise ValueError(f"unknown platform {default_platform!r}")
        self.registry = Registry(clock)
        self.default_platform = default_platform  # None: a bare path speaks its credential's platform

    # --- registry --------------------------------------------------------------------------------------
    def add_app(
        self,
        app_id: str,
        inspector: str | None = None,
        *,
        platform: str = "threads",
        state: str = "ok",
        application: str = "Demo App",
        app_secret: str | None = None,
        deauthorize_url: str | None = None,
        data_deletion_url: str | None = None,
    ) -> None:
        """Register an app of `platform`, its inspector (a developer's user token), and optionally its secret
        (which makes its app token `TH|id|secret` on Threads, `id|secret` elsewhere, and signs callbacks).
        The callback URLs are the app's own, as set in its dashboard ("{app}": the app id)."""
        if state not in APP_STATES:
            raise ValueError(f"unknown app state {state!r}")
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        app = {
            "app_id": app_id,
            "platform": platform,
            "state": state,
            "application": application,
            "app_secret": app_secret,
            "deauthorize_url": deauthorize_url,
            "data_deletion_url": data_deletion_url,
        }
        app_token = PLATFORMS[platform].app_token(app_id, app_secret) if app_secret else None
        self.registry.put_app(app, inspector, app_token)

    def add_token(self, token: str, *, app_id: str, **fields: Any) -> None:
        """Register a token of the app's platform; every field defaults by kind (kinds.py): `user_id`,
        `state`, `issued_at`, `expires_at` (0: never), `data_access_expires_at`, `scopes`, `type` (USER, PAGE,
        APP, SYSTEM_USER...), `profile_id`, `granular_scopes`, `metadata`, `omit` (answer fields to leave
        out) and `username` (what Instagram's /me says)."""
        platform = PLATFORMS[self.registry.platform_of(app_id)]
        self.registry.put_token(token, token_record(platform, self.clock(), app_id=app_id, **fields))

    def update_token(self, token: str, **fields: Any) -> None:
        """Change fields of a registered token (KeyError when unknown)."""
        if "state" in fields and fields["state"] not in TOKEN_STATES:
            raise ValueError(f"unknown token state {fields['state']!r}")
        self.registry.update_token(token, **fields)

    def make_never_expiring(self, token: str) -> None:
        """The token never expires from now on (`expires_at` 0), as a Page token made from a long-lived
        user token."""
        self.registry.update_token(token, expires_at=0)

    def set_granular_targets(self, token: str, scope: str, target_ids: Sequence[str] | None) -> None:
        """Set the `target_ids` of one granular scope (None: the scope applies to all targets), adding the
        scope when the token has none such: a Page taken out of a grant is a shorter list."""
        self.registry.edit_token(token, lambda record: set_targets(record, scope, target_ids))

    def set_instagram_debug(self, mode: str) -> None:
        """What Instagram's debug_token does: "error" (default), "partial" (no horizons) or "full"."""
        if mode not in INSTAGRAM_DEBUG_MODES:
            raise ValueError(f"unknown instagram debug_token mode {mode!r}; one of {INSTAGRAM_DEBUG_MODES}")
        self.registry.instagram_debug = mode

    def revoke(self, token: str) -> tuple[str, str, str | None]:
        """Revoke a token as a user removing the app would: (app_id, user_id, app secret or None), which is
        what a deauthorize callback for it needs (KeyError when the token is unknown)."""
        record = self.registry.edit_token(token, lambda r: r.update(state="revoked"))
        app = self.registry.app(record["app_id"]) or {}
        return record["app_id"], record["user_id"], app.get("app_secret")

    def token_state(self, token: str) -> dict[str, Any]:
        """A copy of the token's record, with `state` as it is now (a passed expiry reads "expired") and the
        platform of its app (KeyError when unknown)."""
        record = self.registry.token(token)
        if record is None:
            raise KeyError(token)
        record["state"] = self.registry.effective_state(record)
        record["platform"] = self.registry.platform_of(record["app_id"])
        return record

    def app_of(self, token: str) -> str:
        """The app id a token belongs to ("0" when unknown): keys the business usage header."""
        return self.registry.owner_of(token)

    # --- routing and answers ---------------------------------------------------------------------------
    def route(self, path: str, query: Mapping[str, str]) -> Call | None:
        """The platform, endpoint and token of a request path, or None when no platform serves the path."""
        explicit = _PREFIX.match(path)
        if explicit:
            path = path[explicit.end() :]
        version = _VERSION.match(path)
        if version:
            path = path[version.end() :]
        name = explicit.group(1) if explicit else (self.default_platform or self._infer(query))
        platform = PLATFORMS[name]
        endpoint = platform.paths.get(path.rstrip("/"))
        return None if endpoint is None else Call(name, endpoint, platform.subject(endpoint, query))

    def _infer(self, query: Mapping[str, str]) -> str:
        """A bare path's platform: that of the app its credential (or client_id) belongs to; Threads else."""
        reg = self.registry
        for name in _CREDENTIALS:
            value = query.get(name)
            if not value:
                continue
            caller = reg.caller(value)
            if caller is not None:
                return str(caller[2]["platform"])
            record = reg.token(value)
            if record is not None:
                return reg.platform_of(record["app_id"])
        app = reg.app(query.get("client_id", "")) if query.get("client_id") else None
        return str(app["platform"]) if app else "threads"

    def answer(self, call: Call, query: Mapping[str, str], method: str = "GET") -> Answer:
        """(status, body, app_id) for a routed request, without faults; stores new tokens of grants."""
        return PLATFORMS[call.platform].answer(self.registry, call.endpoint, query, method)

    def usage_type(self, platform: str) -> str:
        return PLATFORMS[platform].usage_type

    def debug_answer(self, input_token: str, inspector: str) -> Answer:
        """(status, body, app_id) for a debug_token request on a bare path, without faults."""
        return self._bare(DEBUG, {"input_token": input_token, "access_token": inspector})

    def refresh_answer(self, token: str, grant_type: str) -> Answer:
        """(status, body, app_id) for a refresh request on a bare path; stores the new token on success."""
        return self._bare(REFRESH, {"grant_type": grant_type, "access_token": token})

    def _bare(self, endpoint: str, query: dict[str, str]) -> Answer:
        name = self.default_platform or self._infer(query)
        return PLATFORMS[name].answer(self.registry, endpoint, query, "GET")


ThreadsApi = MetaApi  # the name the simulator had when it spoke Threads only
