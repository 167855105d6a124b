"""What the simulated Meta APIs put on the wire, shared by every platform: endpoint names, Meta's error
envelope and its invalid-token catalogue, the usage headers, and the digest that names a token in output.

Pure: no state, no clock of its own, nothing of `monitor`.
"""

from __future__ import annotations

import hashlib
import json
import secrets as rnd
from email.utils import formatdate
from typing import Any

DAY = 86400.0
LIFETIME = 60 * DAY  # a long-lived user token, a refreshed one, a 60-day system-user token
DATA_ACCESS = 90 * DAY  # data access lapses 90 days after the user was last active

# Endpoint names: what counters, call logs and faults are keyed by, the same on every platform.
DEBUG, REFRESH = "debug_token", "refresh_access_token"
ME, EXCHANGE = "me", "access_token"  # Instagram's /me; Facebook's /oauth/access_token exchange
ENDPOINTS = (DEBUG, REFRESH, ME, EXCHANGE)

CANNOT_PARSE = "Invalid OAuth access token - Cannot parse access token"
NOT_A_CALLER = (
    "(#100) You must provide an app access token, or a user access token that is an owner or developer of "
    "the app"
)
APP_MISMATCH = "(#100) The App_id in the input_token did not match the Viewing App"

# A dead token's state -> (subcode, message), as `data.error` of debug_token and as the 190 envelope of any
# other call. 463/460/466 are in SPEC section 3; 458, 459, 464, 492 and 493 are Meta's documented subcodes
# for an app removed, a checkpointed user, an unconfirmed user, an invalid session (a lost Page role) and
# lapsed data access. The message wording is Meta's where known, close to it elsewhere.
INVALID: dict[str, tuple[int, str]] = {
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
    "app_removed": (458, "Error validating access token: The user has not authorized application {app}."),
    "checkpoint": (459, "Error validating access token: You cannot access the app till you log in."),
    "unconfirmed": (464, "Error validating access token: Sessions for the user are not allowed."),
    "session_invalid": (492, "Error validating access token: The session is invalid."),
    "data_access_expired": (
        493,
        "Error validating access token: Data access for this user has expired. The user must log in again.",
    ),
}


def token_digest(token: str) -> str:
    """12 hex chars of SHA-256: identifies a token in output without revealing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def envelope(
    code: int, message: str, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    """Meta's Graph error envelope `{"error": {message, type, code, error_subcode?, fbtrace_id}}`."""
    err: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    err["fbtrace_id"] = "A" + rnd.token_hex(10)
    return {"error": err}


def unsupported(method: str, object_id: str) -> dict[str, Any]:
    """What the Graph API answers for a method a node does not take, or a node it does not have (code 100,
    subcode 33): a POST to Facebook's debug_token (observed), graph.instagram.com's debug_token (observed)."""
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the Graph API "
        "documentation at https://developers.facebook.com/docs/graph-api"
    )
    return envelope(100, message, 33, "GraphMethodException")


def invalid_error(state: str, record: dict[str, Any], now: float, application: str = "") -> tuple[int, str]:
    """(subcode, message) for a token dead in `state` (one of INVALID)."""
    subcode, template = INVALID[state]
    when = formatdate(record.get("expires_at") or 0)
    return subcode, template.format(when=when, now=formatdate(now), app=application or record["app_id"])


def invalid_envelope(state: str, record: dict[str, Any], now: float) -> dict[str, Any]:
    """The HTTP 400 envelope a call made WITH a dead token gets (code 190 and the state's subcode)."""
    subcode, message = invalid_error(state, record, now)
    return envelope(190, message, subcode)


def usage_headers(percent: float, minutes: float, app_id: str, kind: str = "threads") -> dict[str, str]:
    """`X-App-Usage` and `X-Business-Use-Case-Usage` (JSON; `kind` is the business use case's type)."""
    app = {"call_count": percent, "total_cputime": percent, "total_time": percent}
    entry = {"type": kind, **app, "estimated_time_to_regain_access": minutes}
    return {"X-App-Usage": json.dumps(app), "X-Business-Use-Case-Usage": json.dumps({app_id: [entry]})}
