"""What every simulated platform shares: the `Platform` interface and the answers built alike on each.

A platform module (threads.py, facebook.py, instagram.py) subclasses `Platform` with its paths, caller rules
and grants; api.py keeps one dict from a platform's name to its instance. The shared answers here are the
superset `debug_token` data (each field optional per token), the debug_token flow with its caller checks, and
the `refresh_access_token` grant that Threads and Instagram have in common.
"""

from __future__ import annotations

import secrets as rnd
from collections.abc import Mapping
from typing import Any, ClassVar

from monitor.simulator.registry import Registry
from monitor.simulator.wire import (
    APP_MISMATCH,
    CANNOT_PARSE,
    DATA_ACCESS,
    DAY,
    DEBUG,
    EXCHANGE,
    LIFETIME,
    ME,
    NOT_A_CALLER,
    REFRESH,
    envelope,
    invalid_envelope,
    invalid_error,
    unsupported,
)

Answer = tuple[int, dict[str, Any], str]  # (HTTP status, JSON body, app id for the usage headers)
Query = Mapping[str, str]
# Which query parameter names the token a call is about (what counters, the call log and faults key on).
SUBJECT = {DEBUG: "input_token", REFRESH: "access_token", ME: "access_token", EXCHANGE: "fb_exchange_token"}


class Platform:
    """One platform's paths, defaults and answers; stateless (the state is the Registry passed in)."""

    name: ClassVar[str]
    usage_type: ClassVar[str]  # the type of its X-Business-Use-Case-Usage entries
    token_prefix: ClassVar[str]  # how the token strings it issues begin
    paths: ClassVar[dict[str, str]]  # path after the optional version ("/debug_token") -> endpoint name
    notes: ClassVar[dict[str, str]] = {}  # endpoint name -> what it takes, for --list-platforms
    granular: ClassVar[bool] = True  # its debug_token lists granular_scopes unless a token says otherwise
    strict_callers: ClassVar[bool] = True  # a token that is not an inspector gets code 100, not 190

    def app_token(self, app_id: str, secret: str) -> str:
        """The app access token made of the app's id and secret (`APP_ID|APP_SECRET`)."""
        return f"{app_id}|{secret}"

    def default_scopes(self, kind: str) -> tuple[str, ...]:
        raise NotImplementedError

    def answer(self, reg: Registry, endpoint: str, query: Query, method: str) -> Answer:
        """(status, body, app id) for a call to one of this platform's endpoints, without faults."""
        raise NotImplementedError

    def subject(self, endpoint: str, query: Query) -> str:
        """The token a call is about ("" when none was given)."""
        return query.get(SUBJECT.get(endpoint, "access_token"), "")


def token_data(reg: Registry, record: dict[str, Any], application: str) -> dict[str, Any]:
    """The `data` of a debug_token answer for a registered token: the superset of Meta's fields, minus those
    the token's record leaves out (`omit`); a dead token gets `is_valid: false` and `error`."""
    state = reg.effective_state(record)
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
    for name in ("profile_id", "metadata"):
        if record.get(name) is not None:
            data[name] = record[name]
    if record.get("granular_scopes") is not None:
        data["granular_scopes"] = [dict(entry) for entry in record["granular_scopes"]]
    if state != "valid":
        subcode, message = invalid_error(state, record, reg.clock(), application)
        data["error"] = {"code": 190, "message": message, "subcode": subcode}
        if state == "password_changed":
            data["expires_at"] = 0
    for name in record.get("omit", ()):
        data.pop(name, None)
    return data


def unparseable_data() -> dict[str, Any]:
    """debug_token's `data` for an input token nobody issued: no subcode, no fields but these."""
    return {"error": {"code": 190, "message": CANNOT_PARSE}, "is_valid": False, "scopes": []}


def debug_answer(platform: Platform, reg: Registry, query: Query, method: str) -> Answer:
    """debug_token: GET only; the caller must be an inspector credential of the input token's app (a
    developer's user token, or the app token), a dev-mode app takes only its app token."""
    if method != "GET":  # Facebook refuses a POST with subcode 33 (observed); the same engine everywhere
        return 400, unsupported(method, "debug_token"), "0"
    inspector = query.get("access_token", "")
    found = reg.caller(inspector, platform.name)
    if found is None:
        # A token of this platform that is not an inspector (a system user inspecting itself): code 100
        # (observed for Facebook). Anything else cannot even be parsed.
        if platform.strict_callers and reg.token(inspector, platform.name) is not None:
            return 400, envelope(100, NOT_A_CALLER), reg.owner_of(inspector)
        return 400, envelope(190, CANNOT_PARSE), "0"
    app_id, kind, app = found
    if app["state"] == "invalid":
        return 400, envelope(190, CANNOT_PARSE), app_id
    if app["state"] == "dev_mode" and kind != "app":
        return 400, envelope(100, "The app associated with this request is in dev mode"), app_id
    record = reg.token(query.get("input_token", ""), platform.name)
    if record is None or record["state"] == "garbage":
        return 200, {"data": unparseable_data()}, app_id
    if record["app_id"] != app_id:
        return 400, envelope(100, APP_MISMATCH), app_id
    return 200, {"data": token_data(reg, record, app["application"])}, app_id


def issue(reg: Registry, record: dict[str, Any], prefix: str, **horizons: float) -> str:
    """Store a new token string carrying `record` with `horizons` (issued_at, expires_at...) replaced."""
    new = prefix + rnd.token_urlsafe(36)
    reg.put_token(new, {**record, **horizons})
    return new


def renewed(now: float) -> dict[str, float]:
    """The horizons of a long-lived user token issued at `now`: 60 days, data access 90 days."""
    return {"issued_at": now, "expires_at": now + LIFETIME, "data_access_expires_at": now + DATA_ACCESS}


def grant_answer(token: str, expires_at: float, now: float, app_id: str) -> Answer:
    """`{access_token, token_type, expires_in}`: what every refresh and exchange grant answers."""
    body = {"access_token": token, "token_type": "bearer", "expires_in": max(0, round(expires_at - now))}
    return 200, body, app_id


def refresh_answer(platform: Platform, reg: Registry, query: Query, grant: str, scope: str) -> Answer:
    """`GET /refresh_access_token?grant_type=GRANT&access_token=T` (Threads: th_refresh_token, Instagram:
    ig_refresh_token): a valid token at least 24 h old, holding `scope`, gets a NEW string valid 60 days
    from now; the old string keeps working until its own expiry."""
    if query.get("grant_type", "") != grant:
        return 400, envelope(100, f"(#100) Param grant_type must be {grant}"), "0"
    record = reg.token(query.get("access_token", ""), platform.name)
    if record is None or record["state"] == "garbage":
        return 400, envelope(190, CANNOT_PARSE), "0"
    state, now, app_id = reg.effective_state(record), reg.clock(), record["app_id"]
    if state != "valid":
        return 400, invalid_envelope(state, record, now), app_id
    if record["issued_at"] > now - DAY:
        msg = "Error validating access token: the token must be at least 24 hours old to be refreshed"
        return 400, envelope(190, msg), app_id
    if scope not in record["scopes"]:
        return 400, envelope(10, "(#10) Application does not have permission for this action"), app_id
    if record.get("refresh_lags"):
        # update_token(t, refresh_lags=True): an API whose debug_token keeps showing the old expiry for the
        # new string, as a lagging or misbehaving API would.
        new = issue(reg, record, platform.token_prefix)
    else:
        new = issue(reg, record, platform.token_prefix, **renewed(now))
    return grant_answer(new, now + LIFETIME, now, app_id)
