"""`GET /me?fields=user_id,username` as a verdict on the token that asks (Instagram Login tokens that
debug_token cannot describe): valid with its user id, invalid (code 190 and its subcode), or no answer."""

from __future__ import annotations

from typing import Any

from monitor.graph.results import (
    MALFORMED,
    CheckResult,
    Verdict,
    _envelope_common,
    _refresh_reason,
    check_result,
)
from monitor.graph.wire import BY_ME, ApiUsage, Malformed, TokenInfo, json_object, parse_graph_error

_INVALID_CODES = frozenset({102, 190})  # the token itself: expired, revoked, changed password, garbage


def _user_id(doc: dict[str, Any] | None) -> str:
    value = (doc or {}).get("user_id", (doc or {}).get("id"))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise Malformed("user_id")
    return value


def me_info(user_id: str) -> TokenInfo:
    """What /me says: valid, whose; nothing about horizons or scopes (unknown, not "never")."""
    return TokenInfo(
        is_valid=True, expires_at=None, data_access_expires_at=None, issued_at=None, scopes=None, type=None,
        application=None, user_id=user_id, app_id=None, expiry_source=None, validity_source=BY_ME,
        expires_given=False,
    )  # fmt: skip


def classify_me(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> CheckResult:
    """Turn one /me answer into a CheckResult (attempts=1). Pure; never raises."""
    doc = json_object(body)
    try:
        if status >= 500:
            return check_result(
                Verdict.ERROR, status, reason="http_5xx", retry_after=retry_after, usage=usage
            )
        if doc is not None and "error" in doc:
            err = parse_graph_error(doc["error"], secrets, "error_subcode")
            ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message, usage=usage)
            shared = _envelope_common(status, err, usage, retry_after)
            if shared is not None:
                return check_result(shared[0], status, reason=shared[1], retry_after=shared[2], **ids)
            if err.code in _INVALID_CODES:
                info = TokenInfo(
                    False, None, None, None, None, None, None, None, None,
                    expiry_source=None, validity_source=BY_ME, expires_given=False,
                )  # fmt: skip
                return check_result(Verdict.INVALID, status, info=info, reason=_refresh_reason(err), **ids)
            return check_result(Verdict.ERROR, status, reason="unexpected", **ids)
        if status != 200:
            return check_result(
                Verdict.ERROR, status, reason="unexpected", message=f"HTTP {status}", usage=usage
            )
        return check_result(Verdict.VALID, status, info=me_info(_user_id(doc)), usage=usage)
    except Malformed:
        return check_result(Verdict.ERROR, status, reason="malformed", message=MALFORMED, usage=usage)
