"""The simulated world's state: apps (each of one platform), the credentials allowed to inspect, and tokens.

Records are plain dicts (copies go out, never the stored ones), all behind one lock. Nothing here knows a
platform's rules: the platform modules read this state and answer; the facade in api.py fills defaults.
Token strings are kept in memory only, never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

PLATFORM_NAMES = ("threads", "facebook", "instagram")
APP_STATES = ("ok", "invalid", "dev_mode")
INSTAGRAM_DEBUG_MODES = ("error", "partial", "full")
# The fields of a debug_token `data` object a token record may leave out of its answers (`omit`).
ANSWER_FIELDS = frozenset(
    {
        "app_id",
        "type",
        "application",
        "data_access_expires_at",
        "expires_at",
        "is_valid",
        "issued_at",
        "metadata",
        "profile_id",
        "scopes",
        "granular_scopes",
        "user_id",
    }
)


class Registry:
    """Apps, inspector credentials and tokens; every read returns a copy."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, dict[str, Any]] = {}
        self._callers: dict[str, tuple[str, str]] = {}  # credential -> (app_id, "user" | "app")
        self._tokens: dict[str, dict[str, Any]] = {}
        self.instagram_debug = "error"  # what graph.instagram.com's debug_token does (INSTAGRAM_DEBUG_MODES)

    # --- apps ------------------------------------------------------------------------------------------
    def put_app(self, app: dict[str, Any], inspector: str | None, app_token: str | None) -> None:
        """Store an app; `inspector` (a developer's user token) and `app_token` may inspect its tokens."""
        with self._lock:
            self._apps[app["app_id"]] = app
            if inspector:
                self._callers[inspector] = (app["app_id"], "user")
            if app_token:
                self._callers[app_token] = (app["app_id"], "app")

    def app(self, app_id: str) -> dict[str, Any] | None:
        with self._lock:
            app = self._apps.get(app_id)
            return dict(app) if app else None

    def update_app(self, app_id: str, **fields: Any) -> None:
        """Change fields of a registered app (KeyError when unknown)."""
        with self._lock:
            self._apps[app_id].update(fields)

    def platform_of(self, app_id: str) -> str:
        """The platform of an app; "threads" for an app nobody registered (the simulator's first platform)."""
        with self._lock:
            app = self._apps.get(app_id)
        return str(app["platform"]) if app else "threads"

    def caller(self, credential: str, platform: str | None = None) -> tuple[str, str, dict[str, Any]] | None:
        """(app_id, "user" | "app", app) for an inspector credential of `platform` (None: any), else None."""
        with self._lock:
            found = self._callers.get(credential)
            app = self._apps.get(found[0]) if found else None
            if found is None or app is None or (platform and app["platform"] != platform):
                return None
            return found[0], found[1], dict(app)

    # --- tokens ----------------------------------------------------------------------------------------
    def put_token(self, token: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._tokens[token] = record

    def token(self, token: str, platform: str | None = None) -> dict[str, Any] | None:
        """A copy of a token's record; None when unknown, or when it belongs to another platform than
        `platform` (a host does not know the tokens of another)."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return None
            app = self._apps.get(record["app_id"])
            if platform and (app["platform"] if app else "threads") != platform:
                return None
            return dict(record)

    def update_token(self, token: str, **fields: Any) -> None:
        """Change fields of a registered token (KeyError when unknown)."""
        with self._lock:
            self._tokens[token].update(fields)

    def edit_token(self, token: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `edit` to the stored record under the lock (KeyError when unknown); a copy of the result."""
        with self._lock:
            record = self._tokens[token]
            edit(record)
            return dict(record)

    def effective_state(self, record: dict[str, Any]) -> str:
        """The state as it is now: a valid token whose expiry passed reads "expired" (0: never expires)."""
        expires = record["expires_at"]
        if record["state"] == "valid" and expires and expires <= self.clock():
            return "expired"
        return str(record["state"])

    def owner_of(self, token: str) -> str:
        """The app id a token belongs to ("0" when unknown): keys the business usage header."""
        with self._lock:
            record = self._tokens.get(token)
        return str(record["app_id"]) if record else "0"
