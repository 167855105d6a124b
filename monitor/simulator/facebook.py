"""Facebook (graph.facebook.com): `/vNN.0/debug_token` and the `/vNN.0/oauth/access_token` exchange.

From Meta's docs (paths in shared/research/meta-platforms.md) and observed answers:
- debug_token is GET only (a POST: code 100, subcode 33, observed). The caller is the app token
  `APP_ID|APP_SECRET` or a developer's user token of the same app; any other token of the platform, such as a
  system-user token inspecting itself, gets code 100 (observed); a Page or system-user token never inspects.
- `grant_type=fb_exchange_token&client_id=&client_secret=&fb_exchange_token=T`: a short-lived user token
  becomes a long-lived one (60 days); a system-user token, with `set_token_expires_in_60_days=true`, a new
  60-day one (also from a never-expiring one, which is why a monitor must never do that to it).
- A long-lived user token is not extended by exchanging it again: the answer is the same string with the
  expiry it already had (the person must log in again).

Choices where the real API is undocumented: an unknown `client_id` gets code 101, a wrong secret code 1
("Error validating client secret."), a token of another app code 190; a system-user exchange without
`set_token_expires_in_60_days=true`, and an exchange of a Page or app token, get code 100.
"""

from __future__ import annotations

import hmac
from typing import ClassVar

from monitor.simulator.base import (
    Answer,
    Platform,
    Query,
    debug_answer,
    grant_answer,
    issue,
    renewed,
)
from monitor.simulator.registry import Registry
from monitor.simulator.wire import (
    CANNOT_PARSE,
    DAY,
    DEBUG,
    EXCHANGE,
    LIFETIME,
    NOT_A_CALLER,
    envelope,
    invalid_envelope,
)

_SCOPES = {
    "USER": ("public_profile", "pages_show_list", "pages_read_engagement"),
    "PAGE": ("pages_show_list", "pages_read_engagement", "pages_manage_posts"),
    "SYSTEM_USER": ("business_management", "pages_show_list", "pages_read_engagement"),
}
_NEVER_CALLERS = ("PAGE", "SYSTEM_USER")


class Facebook(Platform):
    name = "facebook"
    usage_type = "pages"
    token_prefix = "EAAG"
    paths: ClassVar[dict[str, str]] = {"/debug_token": DEBUG, "/oauth/access_token": EXCHANGE}
    notes: ClassVar[dict[str, str]] = {
        DEBUG: "GET only; input_token, access_token=APP_ID|APP_SECRET | DEVELOPER-TOKEN",
        EXCHANGE: "grant_type=fb_exchange_token, client_id, client_secret, fb_exchange_token"
        "[, set_token_expires_in_60_days=true]",
    }

    def default_scopes(self, kind: str) -> tuple[str, ...]:
        return _SCOPES.get(kind, ())

    def answer(self, reg: Registry, endpoint: str, query: Query, method: str) -> Answer:
        if endpoint == DEBUG:
            caller = reg.token(query.get("access_token", ""), self.name)
            if method == "GET" and caller is not None and caller["type"] in _NEVER_CALLERS:
                return 400, envelope(100, NOT_A_CALLER), str(caller["app_id"])
            return debug_answer(self, reg, query, method)
        if endpoint == EXCHANGE:
            return exchange_answer(self, reg, query)
        return 404, envelope(803, "Unknown path"), "0"


def exchange_answer(platform: Platform, reg: Registry, query: Query) -> Answer:
    """`GET /oauth/access_token?grant_type=fb_exchange_token&...`, checked in Meta's order: the grant, the
    app's credentials, then the token and its kind."""
    if query.get("grant_type", "") != "fb_exchange_token":
        return 400, envelope(100, "(#100) Param grant_type must be fb_exchange_token"), "0"
    client_id = query.get("client_id", "")
    app = reg.app(client_id)
    if app is None or app["platform"] != platform.name:
        return 400, envelope(101, "Error validating application. Invalid application ID."), "0"
    secret = app.get("app_secret") or ""
    if not secret or not hmac.compare_digest(secret.encode(), query.get("client_secret", "").encode()):
        return 400, envelope(1, "Error validating client secret."), client_id
    token = query.get("fb_exchange_token", "")
    record = reg.token(token, platform.name)
    if record is None or record["state"] == "garbage":
        return 400, envelope(190, CANNOT_PARSE), client_id
    if record["app_id"] != client_id:
        msg = f"Error validating access token: the token was not issued for application {client_id}"
        return 400, envelope(190, msg), client_id
    state, now = reg.effective_state(record), reg.clock()
    if state != "valid":
        return 400, invalid_envelope(state, record, now), client_id
    if record["type"] == "SYSTEM_USER":
        if query.get("set_token_expires_in_60_days", "").lower() != "true":
            msg = "(#100) A system user access token is exchanged with set_token_expires_in_60_days=true"
            return 400, envelope(100, msg), client_id
        new = issue(reg, record, platform.token_prefix, issued_at=now, expires_at=now + LIFETIME)
        return grant_answer(new, now + LIFETIME, now, client_id)
    if record["type"] != "USER":
        msg = "(#100) fb_exchange_token must be a user or system user access token"
        return 400, envelope(100, msg), client_id
    expires = record["expires_at"] or 0
    if expires and expires - record["issued_at"] < DAY:  # short-lived: becomes long-lived
        new = issue(reg, record, platform.token_prefix, **renewed(now))
        return grant_answer(new, now + LIFETIME, now, client_id)
    if not expires:  # a user token that never expires has nothing to extend
        return 200, {"access_token": token, "token_type": "bearer"}, client_id
    return grant_answer(token, expires, now, client_id)  # long-lived: not extended, the same expiry
