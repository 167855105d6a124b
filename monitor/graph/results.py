"""What the Threads API said, as typed results: the pure classification of `debug_token` and
`refresh_access_token` answers (no network here; client.py does the transport).

API problems (dead tokens, throttling, 5xx, garbage bodies) are results, never exceptions, and the API's own
messages pass through `redact`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.graph.wire import (
    FROM_REFRESH,
    INFO_KEYS,
    ApiUsage,
    GraphErr,
    Malformed,
    TokenInfo,
    json_object,
    parse_graph_error,
    parse_time,
    parse_token_info,
)
from monitor.state.rule import Verdict  # what a check says: stored as last_result, read by the state rule

__all__ = ["ApiUsage", "CheckResult", "GraphError", "RefreshResult", "TokenInfo", "Verdict"]
__all__ += ["app_token", "check_result", "classify_debug", "classify_refresh", "refresh_result"]

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
INVALID_SUBCODES = {463: "expired", 460: "password_changed", 466: "revoked"}
RETRYABLE = frozenset({"timeout", "connection", "http_5xx", "transient"})
DEFAULT_THROTTLE_WAIT = 60.0
MALFORMED = "unexpected response shape"


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    info: TokenInfo | None
    reason: str | None
    error_code: int | None
    error_subcode: int | None
    message: str | None
    http_status: int | None
    retry_after: float | None
    usage: ApiUsage | None
    attempts: int


@dataclass(frozen=True)
class RefreshResult:
    ok: bool
    access_token: str | None = field(repr=False)
    expires_in: float | None
    verdict: Verdict
    reason: str | None
    error_code: int | None
    error_subcode: int | None
    message: str | None
    retry_after: float | None
    http_status: int | None = None
    usage: ApiUsage | None = None
    attempts: int = 1
    expiry_source: str = FROM_REFRESH  # what `expires_in` is, stored as tokens.expiry_source


class GraphError(Exception):
    """A programming or configuration error (bad arguments). API problems are never raised."""


def app_token(app_id: str, app_secret: str) -> str:
    """The app access token `TH|<app_id>|<app_secret>` accepted as a `debug_token` inspector."""
    if not app_id or not app_secret or "|" in app_id + app_secret:
        raise GraphError("app_id and app_secret must be non-empty and must not contain '|'")
    return f"TH|{app_id}|{app_secret}"


def _invalid_reason(err: GraphErr | None) -> str:
    if err is None:
        return "other"
    if err.subcode in INVALID_SUBCODES:
        return INVALID_SUBCODES[err.subcode]
    return "unparseable" if err.code == 190 and err.subcode is None else "other"


def _inspector_reason(err: GraphErr) -> str:
    text = (err.message or "").lower()
    if "dev mode" in text or "development mode" in text:
        return "dev_mode"
    # Meta: "(#100) The App_id in the input_token did not match the Viewing App" (the simulator says the same)
    if "did not match" in text or "app mismatch" in text:
        return "app_mismatch"
    return "inspector_invalid"


def check_result(verdict: Verdict, status: int | None, **kw: Any) -> CheckResult:
    base: dict[str, Any] = dict(info=None, reason=None, error_code=None, error_subcode=None, message=None)
    base.update(retry_after=None, usage=None, attempts=1)
    base.update(kw)
    return CheckResult(verdict=verdict, http_status=status, **base)


def _envelope_common(
    status: int, err: GraphErr, usage: ApiUsage | None, retry_after: float | None
) -> tuple[Verdict, str | None, float | None] | None:
    """Throttling and transient errors read the same on every endpoint; None for everything else."""
    if err.code in THROTTLE_CODES or status == 429:
        wait = (usage.regain_after if usage else None) or retry_after or DEFAULT_THROTTLE_WAIT
        return Verdict.THROTTLED, None, wait
    if err.code in TRANSIENT_CODES:
        return Verdict.ERROR, "transient", retry_after
    return None


def _debug_data(status: int, data: Any, usage: ApiUsage | None, secrets: tuple[str, ...]) -> CheckResult:
    if not isinstance(data, dict) or not isinstance(data.get("is_valid"), bool):
        raise Malformed("data")
    info = parse_token_info(data, data["is_valid"])
    if info.is_valid:
        return check_result(Verdict.VALID, status, info=info, usage=usage)
    err: GraphErr | None = None
    if data.get("error") is not None:
        err = parse_graph_error(data["error"], secrets, "subcode")
    ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message) if err else {}
    info_kept = info if any(data.get(k) is not None for k in INFO_KEYS) else None
    return check_result(
        Verdict.INVALID, status, info=info_kept, reason=_invalid_reason(err), usage=usage, **ids
    )


def classify_debug(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> CheckResult:
    """Turn one `debug_token` answer into a CheckResult (attempts=1). Pure; never raises."""
    doc = json_object(body)
    try:
        if status >= 500:
            return check_result(
                Verdict.ERROR, status, reason="http_5xx", retry_after=retry_after, usage=usage
            )
        if doc is not None and "error" in doc and (status != 200 or "data" not in doc):
            err = parse_graph_error(doc["error"], secrets, "error_subcode")
            ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message, usage=usage)
            shared = _envelope_common(status, err, usage, retry_after)
            if shared is not None:
                return check_result(shared[0], status, reason=shared[1], retry_after=shared[2], **ids)
            return check_result(Verdict.INSPECTOR, status, reason=_inspector_reason(err), **ids)
        if status == 429:
            wait = (usage.regain_after if usage else None) or retry_after or DEFAULT_THROTTLE_WAIT
            return check_result(Verdict.THROTTLED, status, retry_after=wait, usage=usage)
        if status != 200:
            return check_result(
                Verdict.ERROR, status, reason="unexpected", message=f"HTTP {status}", usage=usage
            )
        return _debug_data(status, doc.get("data") if doc is not None else None, usage, secrets)
    except Malformed:
        return check_result(Verdict.ERROR, status, reason="malformed", message=MALFORMED, usage=usage)


def refresh_result(verdict: Verdict, status: int | None, **kw: Any) -> RefreshResult:
    base: dict[str, Any] = dict(access_token=None, expires_in=None, reason=None, error_code=None)
    base.update(error_subcode=None, message=None, retry_after=None, usage=None)
    base.update(kw)
    return RefreshResult(ok=verdict is Verdict.VALID, verdict=verdict, http_status=status, **base)


def _refresh_reason(err: GraphErr) -> str:
    if err.subcode in INVALID_SUBCODES:
        return INVALID_SUBCODES[err.subcode]
    if err.code == 190 and "cannot parse" in (err.message or "").lower():
        return "unparseable"
    return "other"  # refused for another reason (too young, missing threads_basic, ...)


_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]{1,4096}")  # what the registry accepts as a token string


def answer_failure(
    status: int,
    doc: dict[str, Any] | None,
    usage: ApiUsage | None,
    retry_after: float | None,
    secrets: tuple[str, ...],
    refused: Callable[[GraphErr], tuple[Verdict, dict[str, Any]]],
) -> tuple[Verdict, dict[str, Any]] | None:
    """The verdict and result fields of an answer that is no success: HTTP 5xx, Meta's error envelope (the
    shared rules first, then `refused` for the rest), or another status than 200. None for a 200 without an
    error. Raises Malformed for an envelope that is not one."""
    if status >= 500:
        return Verdict.ERROR, {"reason": "http_5xx", "retry_after": retry_after, "usage": usage}
    if doc is not None and "error" in doc:
        err = parse_graph_error(doc["error"], secrets, "error_subcode")
        ids = {"error_code": err.code, "error_subcode": err.subcode, "message": err.message, "usage": usage}
        shared = _envelope_common(status, err, usage, retry_after)
        if shared is not None:
            return shared[0], {"reason": shared[1], "retry_after": shared[2], **ids}
        verdict, fields = refused(err)
        return verdict, {**fields, **ids}
    if status != 200:
        return Verdict.ERROR, {"reason": "unexpected", "message": f"HTTP {status}", "usage": usage}
    return None


def classify_refresh(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> RefreshResult:
    """Turn one `refresh_access_token` answer into a RefreshResult. Pure; never raises.

    A refusal (HTTP 4xx with the Graph envelope) is INVALID with a reason; it says the token could not be
    refreshed, not necessarily that it is dead (e.g. "other" for a token younger than 24 h).
    """
    doc = json_object(body)
    try:
        failed = answer_failure(
            status,
            doc,
            usage,
            retry_after,
            secrets,
            lambda err: (Verdict.INVALID, {"reason": _refresh_reason(err)}),
        )
        if failed is not None:
            return refresh_result(failed[0], status, **failed[1])
        token = doc.get("access_token") if doc is not None else None
        if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token) or doc is None:
            raise Malformed("access_token")
        try:
            expires_in = parse_time(doc.get("expires_in"))
        except Malformed:  # the string is issued and the old one may be gone: keep it, re-inspection tells
            expires_in = None
        return refresh_result(Verdict.VALID, status, access_token=token, expires_in=expires_in, usage=usage)
    except Malformed:
        return refresh_result(Verdict.ERROR, status, reason="malformed", message=MALFORMED)
