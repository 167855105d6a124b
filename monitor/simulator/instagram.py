"""Instagram API with Instagram Login (graph.instagram.com): `/me`, `/refresh_access_token`, and a
`debug_token` that Meta does not document there.

- `GET /me?fields=user_id,username&access_token=T`: the fields asked for (and `id`) for a valid token; the
  OAuthException envelope with code 190 (and the dead token's subcode) otherwise.
- `GET /refresh_access_token?grant_type=ig_refresh_token&access_token=T`: as Threads' grant (at least 24 h
  old, not expired, a new string valid 60 days), for a token holding `instagram_business_basic`.
- `debug_token` (third-party code calls it, observed; what it answers is unconfirmed), per
  `Registry.instagram_debug`: "error" (the default: the Graph API's "Unsupported get request", code 100,
  subcode 33), "partial" (`data` without `issued_at`, `expires_at` and `data_access_expires_at`), or "full"
  (described as Facebook would, with the same caller rules).
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.simulator.base import Answer, Platform, Query, debug_answer, refresh_answer
from monitor.simulator.registry import Registry
from monitor.simulator.wire import CANNOT_PARSE, DEBUG, ME, REFRESH, envelope, invalid_envelope, unsupported

_HORIZONS = ("issued_at", "expires_at", "data_access_expires_at")


class Instagram(Platform):
    name = "instagram"
    usage_type = "instagram"
    token_prefix = "IGAA"
    paths: ClassVar[dict[str, str]] = {
        "/debug_token": DEBUG,
        "/me": ME,
        "/refresh_access_token": REFRESH,
    }
    notes: ClassVar[dict[str, str]] = {
        DEBUG: "undocumented: an error unless --instagram-debug-token says otherwise",
        ME: "fields=user_id,username, access_token",
        REFRESH: "grant_type=ig_refresh_token, access_token",
    }

    def default_scopes(self, kind: str) -> tuple[str, ...]:
        return () if kind == "APP" else ("instagram_business_basic", "instagram_business_content_publish")

    def answer(self, reg: Registry, endpoint: str, query: Query, method: str) -> Answer:
        if endpoint == ME:
            return me_answer(self, reg, query)
        if endpoint == REFRESH:
            return refresh_answer(self, reg, query, "ig_refresh_token", "instagram_business_basic")
        if endpoint == DEBUG:
            return self._debug(reg, query, method)
        return 404, envelope(803, "Unknown path"), "0"

    def _debug(self, reg: Registry, query: Query, method: str) -> Answer:
        mode = reg.instagram_debug
        if mode == "error":
            return 400, unsupported(method, "debug_token"), "0"
        status, body, app_id = debug_answer(self, reg, query, method)
        if mode == "partial" and status == 200:
            for name in _HORIZONS:
                body["data"].pop(name, None)
        return status, body, app_id


def me_answer(platform: Platform, reg: Registry, query: Query) -> Answer:
    """`GET /me?fields=...`: the asked fields among `id`, `user_id` and `username` (`id` always);
    a field the node does not have is refused with code 100, as the Graph API does."""
    record = reg.token(query.get("access_token", ""), platform.name)
    if record is None or record["state"] == "garbage":
        return 400, envelope(190, CANNOT_PARSE), "0"
    state = reg.effective_state(record)
    if state != "valid":
        return 400, invalid_envelope(state, record, reg.clock()), record["app_id"]
    user_id = str(record["user_id"])
    known = {"user_id": user_id, "username": record.get("username") or f"user{user_id}"}
    asked = [f.strip() for f in query.get("fields", "").split(",") if f.strip()]
    unknown = [name for name in asked if name not in known and name != "id"]
    if unknown:
        msg = f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type (User)"
        return 400, envelope(100, msg), record["app_id"]
    body: dict[str, Any] = {name: known[name] for name in asked if name in known}
    body["id"] = user_id
    return 200, body, record["app_id"]
