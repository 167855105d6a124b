"""The demo's cast: its apps (one per platform and state), its tokens (each telling one story within
seconds) and `seed`, which registers them in the simulator and in the registry as `apps add` and
`tokens add` would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from monitor.context import Context
from monitor.db.session import transaction
from monitor.registry import NewToken, add_app, add_tokens, set_app_secret
from monitor.simulator import Simulator

DAY = 86400.0
REVOKE_AFTER = 20.0  # seconds after the start when cyberdyne's user removes the app


@dataclass(frozen=True)
class DemoApp:
    name: str
    app_id: str
    sim_state: str  # simulator app state: ok | dev_mode | invalid
    application: str
    platform: str = "threads"


@dataclass(frozen=True)
class DemoToken:
    name: str
    app: str
    story: str  # one line for the banner: what this token shows
    sim: dict[str, Any] = field(default_factory=dict)  # Simulator.add_token keyword arguments, times relative
    throttle: bool = False
    auto_refresh: bool = False
    revoke_after: float | None = None  # the user removes the app then: the simulator calls back


APPS = (
    DemoApp("growth", "1001", "ok", "Growth Bot"),
    DemoApp("partner", "1002", "ok", "Partner Sync"),
    DemoApp("legacy", "1003", "dev_mode", "Legacy Poster"),
    DemoApp("pages", "1004", "ok", "Page Publisher", "facebook"),
    DemoApp("insta", "1005", "ok", "Insta Stories", "instagram"),
)

TOKENS = (
    DemoToken("acme", "growth", "healthy: 59 days left", {}),
    DemoToken(
        "globex", "growth", "expires in 2 days -> TokenExpiring (critical)", {"expires_in": 2 * DAY - 600}
    ),
    DemoToken(
        "initech",
        "growth",
        "data access ends in 5 days -> TokenDataAccessExpiring (warning)",
        {"data_access_in": 5 * DAY},
    ),
    DemoToken("hooli", "growth", "revoked by the user -> TokenInvalid", {"state": "revoked"}),
    DemoToken(
        "umbrella",
        "growth",
        "auto-refresh on, 6 days left -> the daemon refreshes it",
        {"expires_in": 6 * DAY, "issued_ago": 54 * DAY},
        auto_refresh=True,
    ),
    DemoToken(
        "wayne",
        "partner",
        "its app's API throttles -> checks back off, TokenCheckFailing after 1 min",
        {},
        throttle=True,
    ),
    DemoToken("stark", "legacy", "app in dev mode refuses the inspector -> InspectorInvalid", {}),
    DemoToken(
        "cyberdyne",
        "growth",
        f"its user removes the app at +{REVOKE_AFTER:.0f} s -> Meta's deauthorize callback -> "
        "checked at once -> TokenInvalid within seconds, not hours",
        {},
        revoke_after=REVOKE_AFTER,
    ),
    DemoToken(
        "planet",
        "pages",
        "a Facebook Page token that never expires, data access ends in 4 days -> TokenDataAccessExpiring "
        "only, never refreshed",
        {"type": "PAGE", "never": True, "data_access_in": 4 * DAY},
        auto_refresh=True,
    ),
    DemoToken(
        "gazette",
        "insta",
        "an Instagram Login token: debug_token cannot describe it, GET /me says it is valid",
        {},
    ),
)


def seed(sim: Simulator, ctx: Context, now: float) -> dict[str, str]:
    """Register the demo's apps (with the app secret that signs their callbacks) and tokens in the simulator
    and in the registry (as `apps add` and `tokens add` would); the token strings by name."""
    new_tokens = []
    with transaction(ctx.sessions) as s:
        for app in APPS:
            inspector, secret = "THAA" + secrets.token_urlsafe(24), secrets.token_hex(16)
            sim.add_app(
                app.app_id, inspector, state=app.sim_state, application=app.application, app_secret=secret,
                platform=app.platform,
            )  # fmt: skip
            add_app(s, ctx.vault, app.name, inspector, kind="user_token", threads_app_id=app.app_id, now=now,
                    platform=app.platform)  # fmt: skip
            set_app_secret(s, ctx.vault, app.name, secret)
        app_ids = {a.name: a.app_id for a in APPS}
        for i, tok in enumerate(TOKENS):
            value = "THAA" + secrets.token_urlsafe(36)
            sim.add_token(
                value, app_id=app_ids[tok.app], user_id=str(17841400000000 + i), **_sim_fields(tok.sim, now)
            )
            if tok.throttle:
                sim.set_fault("throttle", token=value, endpoint="debug_token", minutes=1)
            new_tokens.append(NewToken(tok.name, tok.app, value, {"team": tok.app}, tok.auto_refresh))
        add_tokens(s, ctx.vault, new_tokens, now=now)
    return {t.name: t.token for t in new_tokens}


def _sim_fields(spec: dict[str, Any], now: float) -> dict[str, Any]:
    issued = now - spec.get("issued_ago", DAY)
    out: dict[str, Any] = {"issued_at": issued, "state": spec.get("state", "valid")}
    out["expires_at"] = now + spec["expires_in"] if "expires_in" in spec else issued + 60 * DAY
    if spec.get("never"):
        out["expires_at"] = 0  # Meta's "never" (a Page token made from a long-lived user token)
    if "type" in spec:
        out["type"] = spec["type"]
    data_access = now + spec["data_access_in"] if "data_access_in" in spec else issued + 90 * DAY
    out["data_access_expires_at"] = data_access
    return out
