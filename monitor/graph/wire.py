"""Reading the Threads API wire format: usage headers, Graph error objects, token fields.

Kept apart from graph.py (classification and transport) so these pure parts are tested without a network.
Every parser here raises only `Malformed`, which graph.py turns into an ERROR result.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from monitor.redact import REDACTED, redact

USAGE_METRICS = ("call_count", "total_cputime", "total_time")


def _frozen(d: dict[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class ApiUsage:
    """What the usage headers said: percentages per metric, and when access comes back (seconds)."""

    app: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    business: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    regain_after: float | None = None

    def max_percent(self) -> float:
        """The highest percentage over every metric of both headers (0.0 when none was given)."""
        values = [*self.app.values(), *self.business.values()]
        return max(values, default=0.0)


def _number(value: Any) -> float | None:
    """A usage figure, or None: percentages and minutes beyond a year are nonsense, not a reason to wait."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 525_600:
        return None
    return float(value)


def _load_object(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _app_usage(raw: str | None) -> dict[str, float]:
    obj = _load_object(raw) or {}
    out: dict[str, float] = {}
    for metric in USAGE_METRICS:
        number = _number(obj.get(metric))
        if number is not None:
            out[metric] = number
    return out


def _business_usage(raw: str | None) -> tuple[dict[str, float], float | None]:
    obj = _load_object(raw) or {}
    out: dict[str, float] = {}
    regain_minutes: float | None = None
    for entries in obj.values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            for metric in USAGE_METRICS:
                number = _number(entry.get(metric))
                if number is not None:
                    out[metric] = max(out.get(metric, number), number)
            minutes = _number(entry.get("estimated_time_to_regain_access"))
            if minutes is not None and minutes > 0:
                regain_minutes = max(regain_minutes or 0.0, minutes)
    return out, (regain_minutes * 60.0 if regain_minutes is not None else None)


def parse_usage(headers: Mapping[str, str]) -> ApiUsage | None:
    """Parse `X-App-Usage` and `X-Business-Use-Case-Usage`; None when neither header holds anything usable.

    Never raises: malformed headers are ignored. `regain_after` is in seconds (the header says minutes).
    `headers` must look up names case-insensitively (requests' CaseInsensitiveDict does).
    """
    app = _app_usage(headers.get("X-App-Usage"))
    business, regain_after = _business_usage(headers.get("X-Business-Use-Case-Usage"))
    if not app and not business and regain_after is None:
        return None
    return ApiUsage(app=_frozen(app), business=_frozen(business), regain_after=regain_after)


_QUERY = re.compile(r"\?[^\s\"']*")


class QueryStringFilter(logging.Filter):
    """Strips query strings (where the tokens travel) from urllib3's DEBUG request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _QUERY.sub("?" + REDACTED, a) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str):  # only when there are no args: "?" could sit in a format string
            record.msg = _QUERY.sub("?" + REDACTED, record.msg)
        return True


def protect_urllib3_logs() -> None:
    """Make sure urllib3 cannot log a URL carrying a token (idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, QueryStringFilter) for f in logger.filters):
        logger.addFilter(QueryStringFilter())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


MAX_MESSAGE = 300


# Where a token's expiry came from (tokens.expiry_source): debug_token's `expires_at`, debug_token saying it
# never expires (0 or absent), or the `expires_in` of the monitor's own refresh or exchange; None: unknown.
FROM_DEBUG, NEVER, FROM_REFRESH, FROM_EXCHANGE = "debug_token", "never", "refresh", "exchange"
# What said the token is valid (tokens.validity_source): debug_token, or GET /me (Instagram Login).
BY_DEBUG, BY_ME = "debug_token", "me"


Granular = tuple[tuple[str, tuple[str, ...] | None], ...]  # (scope, target ids or None: every target)


@dataclass(frozen=True)
class TokenInfo:
    """What an answer said about a token: the superset of debug_token's fields, each optional (SPEC 16)."""

    is_valid: bool
    expires_at: float | None  # None: never (expiry_source "never") or unknown (expiry_source None)
    data_access_expires_at: float | None
    issued_at: float | None
    scopes: tuple[str, ...] | None  # None: the answer did not say (GET /me)
    type: str | None
    application: str | None
    user_id: str | None
    app_id: str | None
    profile_id: str | None = None
    granular_scopes: Granular | None = None
    metadata: str | None = None  # JSON text
    expiry_source: str | None = FROM_DEBUG
    validity_source: str = BY_DEBUG
    expires_given: bool = True  # whether the answer had `expires_at` at all


class Malformed(ValueError):
    """Internal: the body does not have the documented shape."""


@dataclass(frozen=True)
class GraphErr:
    code: int | None
    subcode: int | None
    message: str | None


# Bounds of what is stored: an answer outside them is malformed, never a database error later (a value too
# long for its column would fail the whole batch write on PostgreSQL and MariaDB).
MAX_INT = 2**31 - 1
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the largest time the status views can print
MAX_SCOPES, MAX_SCOPE_LENGTH = 100, 100


def _int(value: Any, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
        raise Malformed("not a 32-bit integer")
    return value


def _str(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ids sometimes come as numbers
    if not isinstance(value, str):
        raise Malformed("not a string")
    if len(value) > limit:
        raise Malformed("string too long")
    return value


def parse_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TIMESTAMP:
        raise Malformed("not a timestamp")  # also NaN and infinities: every comparison with them is false
    return float(value) or None  # 0 means "never"


def parse_graph_error(obj: Any, secrets: tuple[str, ...], subcode_key: str) -> GraphErr:
    if not isinstance(obj, dict):
        raise Malformed("error is not an object")
    message = _str(obj.get("message"), limit=100_000)
    subcode = _int(obj.get(subcode_key, obj.get("subcode", obj.get("error_subcode"))))
    short = redact(message, secrets)[:MAX_MESSAGE] if message is not None else None
    return GraphErr(_int(obj.get("code")), subcode, short)


def _scope(s: Any) -> bool:
    return isinstance(s, str) and 0 < len(s) <= MAX_SCOPE_LENGTH and s.isprintable() and " " not in s


def _scopes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_SCOPES or not all(_scope(s) for s in value):
        raise Malformed("scopes")
    return tuple(value)


MAX_TARGETS = 1000


def parse_granular(value: Any) -> Granular | None:
    """`granular_scopes`: [{scope, target_ids?}], sorted; no `target_ids` means every target."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_SCOPES:
        raise Malformed("granular_scopes")
    out: dict[str, tuple[str, ...] | None] = {}
    for entry in value:
        if not isinstance(entry, dict) or not _scope(entry.get("scope")):
            raise Malformed("granular_scopes")
        targets = entry.get("target_ids")
        if targets is not None and (not isinstance(targets, list) or len(targets) > MAX_TARGETS):
            raise Malformed("granular_scopes")
        ids = None if targets is None else tuple(sorted({str(_str(t, limit=64)) for t in targets}))
        out[entry["scope"]] = ids
    return tuple(sorted(out.items()))


MAX_METADATA = 2000


def parse_metadata(value: Any) -> str | None:
    """debug_token's `metadata` (auth_type, sso...) as JSON text; one too large to keep is left out."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Malformed("metadata")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_METADATA else None


def parse_token_info(data: dict[str, Any], is_valid: bool) -> TokenInfo:
    expires_at = parse_time(data.get("expires_at"))
    return TokenInfo(
        is_valid=is_valid,
        expires_at=expires_at,
        data_access_expires_at=parse_time(data.get("data_access_expires_at")),
        issued_at=parse_time(data.get("issued_at")),
        scopes=_scopes(data.get("scopes", [])),
        type=_str(data.get("type"), limit=32),
        application=_str(data.get("application"), limit=200),
        user_id=_str(data.get("user_id"), limit=64),
        app_id=_str(data.get("app_id"), limit=64),
        profile_id=_str(data.get("profile_id"), limit=64),
        granular_scopes=parse_granular(data.get("granular_scopes")),
        metadata=parse_metadata(data.get("metadata")),
        # expires_at absent or 0: the token never expires (the Access Token Debugger shows "Never").
        expiry_source=FROM_DEBUG if expires_at is not None else NEVER,
        expires_given=data.get("expires_at") is not None,
    )


INFO_KEYS: tuple[str, ...] = ("expires_at", "data_access_expires_at", "issued_at", "type", "application")
INFO_KEYS += ("user_id", "app_id", "profile_id", "granular_scopes", "metadata")


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None
