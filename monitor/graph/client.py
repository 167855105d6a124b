"""Threads API client: `debug_token` and `refresh_access_token`, classified into typed results.

API problems (dead tokens, throttling, 5xx, garbage bodies, timeouts) are results, never exceptions.
Tokens travel in the query string as the real API expects, so no exception text or URL is ever kept:
results are built from exception *types*, and the API's own messages pass through `redact`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from monitor.graph.wire import (
    INFO_KEYS,
    ApiUsage,
    GraphErr,
    Malformed,
    TokenInfo,
    json_object,
    parse_graph_error,
    parse_time,
    parse_token_info,
    parse_usage,
    protect_urllib3_logs,
    retry_after_seconds,
)
from monitor.redact import redact

__all__ = ["ApiUsage", "CheckResult", "GraphClient", "GraphError", "RefreshResult", "TokenInfo", "Verdict"]
__all__ += ["app_token", "classify_debug", "classify_refresh", "redact"]

log = logging.getLogger(__name__)
protect_urllib3_logs()

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
INVALID_SUBCODES = {463: "expired", 460: "password_changed", 466: "revoked"}
RETRYABLE = frozenset({"timeout", "connection", "http_5xx", "transient"})
DEFAULT_THROTTLE_WAIT = 60.0
MALFORMED = "unexpected response shape"
MAX_INLINE_WAIT = 5.0  # a longer Retry-After on a 5xx is handed to the scheduler instead of slept on


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    INSPECTOR = "inspector"
    THROTTLED = "throttled"
    ERROR = "error"


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


def _check(verdict: Verdict, status: int | None, **kw: Any) -> CheckResult:
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
        return _check(Verdict.VALID, status, info=info, usage=usage)
    err: GraphErr | None = None
    if data.get("error") is not None:
        err = parse_graph_error(data["error"], secrets, "subcode")
    ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message) if err else {}
    info_kept = info if any(data.get(k) is not None for k in INFO_KEYS) else None
    return _check(Verdict.INVALID, status, info=info_kept, reason=_invalid_reason(err), usage=usage, **ids)


def classify_debug(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> CheckResult:
    """Turn one `debug_token` answer into a CheckResult (attempts=1). Pure; never raises."""
    doc = json_object(body)
    try:
        if status >= 500:
            return _check(Verdict.ERROR, status, reason="http_5xx", retry_after=retry_after, usage=usage)
        if doc is not None and "error" in doc and (status != 200 or "data" not in doc):
            err = parse_graph_error(doc["error"], secrets, "error_subcode")
            ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message, usage=usage)
            shared = _envelope_common(status, err, usage, retry_after)
            if shared is not None:
                return _check(shared[0], status, reason=shared[1], retry_after=shared[2], **ids)
            return _check(Verdict.INSPECTOR, status, reason=_inspector_reason(err), **ids)
        if status == 429:
            wait = (usage.regain_after if usage else None) or retry_after or DEFAULT_THROTTLE_WAIT
            return _check(Verdict.THROTTLED, status, retry_after=wait, usage=usage)
        if status != 200:
            return _check(Verdict.ERROR, status, reason="unexpected", message=f"HTTP {status}", usage=usage)
        return _debug_data(status, doc.get("data") if doc is not None else None, usage, secrets)
    except Malformed:
        return _check(Verdict.ERROR, status, reason="malformed", message=MALFORMED, usage=usage)


def _refresh(verdict: Verdict, status: int | None, **kw: Any) -> RefreshResult:
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


def classify_refresh(
    status: int, body: bytes, usage: ApiUsage | None, retry_after: float | None, secrets: tuple[str, ...] = ()
) -> RefreshResult:
    """Turn one `refresh_access_token` answer into a RefreshResult. Pure; never raises.

    A refusal (HTTP 4xx with the Graph envelope) is INVALID with a reason; it says the token could not be
    refreshed, not necessarily that it is dead (e.g. "other" for a token younger than 24 h).
    """
    doc = json_object(body)
    try:
        if status >= 500:
            return _refresh(Verdict.ERROR, status, reason="http_5xx", retry_after=retry_after, usage=usage)
        if doc is not None and "error" in doc:
            err = parse_graph_error(doc["error"], secrets, "error_subcode")
            ids = dict(error_code=err.code, error_subcode=err.subcode, message=err.message, usage=usage)
            shared = _envelope_common(status, err, usage, retry_after)
            if shared is not None:
                return _refresh(shared[0], status, reason=shared[1], retry_after=shared[2], **ids)
            return _refresh(Verdict.INVALID, status, reason=_refresh_reason(err), **ids)
        if status != 200:
            return _refresh(Verdict.ERROR, status, reason="unexpected", message=f"HTTP {status}", usage=usage)
        token = doc.get("access_token") if doc is not None else None
        if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token) or doc is None:
            raise Malformed("access_token")
        try:
            expires_in = parse_time(doc.get("expires_in"))
        except Malformed:  # the string is issued and the old one may be gone: keep it, re-inspection tells
            expires_in = None
        return _refresh(Verdict.VALID, status, access_token=token, expires_in=expires_in, usage=usage)
    except Malformed:
        return _refresh(Verdict.ERROR, status, reason="malformed", message=MALFORMED)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    usage: ApiUsage | None
    retry_after: float | None


class GraphClient:
    """A thread-safe client on one pooled session; share one instance between worker threads."""

    def __init__(
        self,
        base_url: str = "https://graph.threads.net",
        api_version: str = "v1.0",
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_body_bytes: int = 1_000_000,
        pool_size: int = 64,
        on_response: Callable[[str, str, ApiUsage | None], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout <= 0 or retries < 0 or max_body_bytes <= 0 or pool_size <= 0:
            raise GraphError("timeout, max_body_bytes and pool_size must be positive, retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_body_bytes = max_body_bytes
        self._on_response, self._sleep = on_response, sleep
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0, pool_block=False)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def debug_token(self, input_token: str, inspector: str) -> CheckResult:
        """Inspect `input_token` with `inspector` (a tester's user token or an app token); never raises."""
        if not input_token or not inspector:
            raise GraphError("input_token and inspector must be non-empty")
        secrets = (input_token, inspector)
        url = f"{self.base_url}/{self.api_version}/debug_token"
        params = {"input_token": input_token, "access_token": inspector}

        def classify(answer: _Answer) -> CheckResult:
            return classify_debug(answer.status, answer.body, answer.usage, answer.retry_after, secrets)

        def failed(reason: str, message: str) -> CheckResult:
            return _check(Verdict.ERROR, None, reason=reason, message=message)

        return self._call("debug_token", url, params, classify, failed)

    def refresh_access_token(self, token: str) -> RefreshResult:
        """Refresh a long-lived token; on success `access_token` holds the string that replaces it."""
        if not token:
            raise GraphError("token must be non-empty")
        url = f"{self.base_url}/refresh_access_token"
        params = {"grant_type": "th_refresh_token", "access_token": token}

        def classify(answer: _Answer) -> RefreshResult:
            return classify_refresh(answer.status, answer.body, answer.usage, answer.retry_after, (token,))

        def failed(reason: str, message: str) -> RefreshResult:
            return _refresh(Verdict.ERROR, None, reason=reason, message=message)

        return self._call("refresh_access_token", url, params, classify, failed)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def _call(self, endpoint: str, url: str, params: dict[str, str], classify: Any, failed: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            answer = self._fetch(endpoint, url, params)
            result = failed(*answer) if isinstance(answer, tuple) else classify(answer)
            wait = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
            retry_after = result.retry_after or 0.0
            if (
                result.verdict is not Verdict.ERROR
                or result.reason not in RETRYABLE
                or attempt > self.retries
                or retry_after > MAX_INLINE_WAIT
            ):
                return replace(result, attempts=attempt)
            self._sleep(max(wait, retry_after))

    def _fetch(self, endpoint: str, url: str, params: dict[str, str]) -> _Answer | tuple[str, str]:
        deadline = time.monotonic() + self.timeout
        try:
            resp = self._session.get(url, params=params, timeout=self.timeout, stream=True)
        except requests.Timeout as exc:
            return self._failed(endpoint, "timeout", exc)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return self._failed(endpoint, "connection", exc)
        except Exception as exc:  # noqa: BLE001 - a result, never an escaping exception with a URL inside
            return self._failed(endpoint, "unexpected", exc)
        try:
            usage = parse_usage(resp.headers)
            self._notify(endpoint, str(resp.status_code), usage)
            body = self._read_capped(resp, deadline)
            if body is None:
                return ("too_large", f"body larger than {self.max_body_bytes} bytes")
            return _Answer(resp.status_code, body, usage, retry_after_seconds(resp.headers))
        except TimeoutError:
            return ("timeout", "read deadline exceeded")
        except (urllib3.exceptions.ReadTimeoutError, requests.Timeout) as exc:
            return ("timeout", type(exc).__name__)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return ("connection", type(exc).__name__)
        except Exception as exc:  # noqa: BLE001
            return ("unexpected", type(exc).__name__)
        finally:
            resp.close()

    def _read_capped(self, resp: requests.Response, deadline: float) -> bytes | None:
        """The body, None when it exceeds max_body_bytes; TimeoutError past the deadline (slow trickle)."""
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = resp.raw.read1(65536, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)

    def _failed(self, endpoint: str, reason: str, exc: BaseException) -> tuple[str, str]:
        self._notify(endpoint, "error", None)
        return (reason, type(exc).__name__)  # the type only: str(exc) holds the URL with the tokens

    def _notify(self, endpoint: str, code: str, usage: ApiUsage | None) -> None:
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, code, usage)
        except Exception:  # noqa: BLE001 - a metrics hook must not break a check
            log.exception("on_response hook failed for %s", endpoint)
