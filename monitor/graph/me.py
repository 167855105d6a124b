"""`GET /me?fields=user_id,username` as a verdict on the token that asks (Instagram Login tokens that
debug_token cannot describe): valid with its user id, invalid (code 190 and its subcode), or no answer."""

from __future__ import annotations

from typing import Any

from monitor.graph.results import (
    MALFORMED,
    CheckResult,
    Verdict,
    _refresh_reason,
    answer_failure,
    check_result,
)
from monitor.graph.wire import BY_ME, ApiUsage, GraphErr, Malformed, TokenInfo, json_object

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


def _refused(err: GraphErr) -> tuple[Verdict, dict[str, Any]]:
    """A /me refusal no shared rule covers: a dead token (`_INVALID_CODES`) or an unexpected error."""
    if err.code in _INVALID_CODES:
        info = TokenInfo(
            False, None, None, None, None, None, None, None, None,
            expiry_source=None, validity_source=BY_ME, expires_given=False,
        )  # fmt: skip
        return Verdict.INVALID, {"info": info, "reason": _refresh_reason(err)}
    return Verdict.ERROR, {"reason": "unexpected"}


def classify_me(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> CheckResult:
    """Turn one /me answer into a CheckResult (attempts=1). Pure; never raises."""
    doc = json_object(body)
    try:
        failed = answer_failure(status, doc, usage, retry_after, secrets, _refused)
        if failed is not None:
            return check_result(failed[0], status, **failed[1])
        return check_result(Verdict.VALID, status, info=me_info(_user_id(doc)), usage=usage)
    except Malformed:
        return check_result(Verdict.ERROR, status, reason="malformed", message=MALFORMED, usage=usage)
