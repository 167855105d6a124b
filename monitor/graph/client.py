"""Threads API client: `debug_token` and `refresh_access_token` over HTTP, classified by results.py.

API problems (dead tokens, throttling, 5xx, garbage bodies, timeouts) are results, never exceptions.
Tokens travel in the query string as the real API expects, so no exception text or URL is ever kept:
results are built from exception *types*, and the API's own messages pass through `redact`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import requests
import urllib3

from monitor.graph.results import (
    RETRYABLE,
    CheckResult,
    GraphError,
    RefreshResult,
    Verdict,
    app_token,
    check_result,
    classify_debug,
    classify_refresh,
    refresh_result,
)
from monitor.graph.wire import (
    ApiUsage,
    TokenInfo,
    parse_usage,
    protect_urllib3_logs,
)
from monitor.net import BoundedSession, DeadlineExceeded, TooLarge
from monitor.redact import redact
from monitor.retry import backoff, retry_after_header

__all__ = ["ApiUsage", "CheckResult", "GraphClient", "GraphError", "RefreshResult", "TokenInfo", "Verdict"]
__all__ += ["app_token", "classify_debug", "classify_refresh", "redact"]

log = logging.getLogger(__name__)
protect_urllib3_logs()

MAX_INLINE_WAIT = 5.0  # a longer Retry-After on a 5xx is handed to the scheduler instead of slept on
MAX_RETRY_WAIT = 30.0  # inline retries wait `backoff` doubling up to this, shortened by up to half (jitter)


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
        self._http = BoundedSession(pool_size=pool_size)

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
            return check_result(Verdict.ERROR, None, reason=reason, message=message)

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
            return refresh_result(Verdict.ERROR, None, reason=reason, message=message)

        return self._call("refresh_access_token", url, params, classify, failed)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def _call(self, endpoint: str, url: str, params: dict[str, str], classify: Any, failed: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            answer = self._fetch(endpoint, url, params)
            result = failed(*answer) if isinstance(answer, tuple) else classify(answer)
            wait = backoff(attempt, self.backoff, MAX_RETRY_WAIT, jitter=0.5, rand=random.random())
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
        """One call within `timeout` in total (a peer trickling headers or body is cut off) and a body of at
        most `max_body_bytes`; an answer, or (reason, message) for the failure result."""
        try:
            reply = self._http.request(
                "GET", url, deadline=self.timeout, max_bytes=self.max_body_bytes, params=params
            )
        except TooLarge as exc:
            usage = parse_usage(exc.headers) if exc.headers is not None else None
            self._notify(endpoint, str(exc.status) if exc.status else "error", usage)
            return ("too_large", f"body larger than {self.max_body_bytes} bytes")
        except DeadlineExceeded as exc:
            return self._failed(endpoint, "timeout", exc)
        except requests.Timeout as exc:
            return self._failed(endpoint, "timeout", exc)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return self._failed(endpoint, "connection", exc)
        except Exception as exc:  # noqa: BLE001 - a result, never an escaping exception with a URL inside
            return self._failed(endpoint, "unexpected", exc)
        usage = parse_usage(reply.headers)
        self._notify(endpoint, str(reply.status), usage)
        return _Answer(reply.status, reply.body, usage, retry_after_header(reply.headers, time.time()))

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
