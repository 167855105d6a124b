"""Threads API client: `debug_token` and `refresh_access_token` over HTTP, classified by results.py.

API problems (dead tokens, throttling, 5xx, garbage bodies, timeouts) are results, never exceptions.
Tokens travel in the query string as the real API expects, so no exception text or URL is ever kept:
results are built from exception *types*, and the API's own messages pass through `redact`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests
import urllib3

from monitor.graph.base import AppKeys
from monitor.graph.me import classify_me
from monitor.graph.platforms import platform_named
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
        base_url: str = "https://graph.threads.com",
        api_version: str = "v1.0",
        hosts: Mapping[str, tuple[str, str]] | None = None,
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
        # platform name -> (base URL, API version); `base_url` and `api_version` are Threads' unless given.
        given = dict(hosts or {})
        given.setdefault("threads", (base_url, api_version))
        self.hosts = {name: (url.rstrip("/"), version.strip("/")) for name, (url, version) in given.items()}
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_body_bytes = max_body_bytes
        self._on_response, self._sleep = on_response, sleep
        self._http = BoundedSession(pool_size=pool_size)

    def inspect(self, platform: str, token: str, inspector: str) -> CheckResult:
        """Inspect `token` as its platform does (monitor.graph.platforms); never raises."""
        return platform_named(platform).inspect(self, token, inspector)

    def renew(self, platform: str, token: str, kind: str | None, app: AppKeys) -> RefreshResult:
        """Renew `token` (of type `kind`) as its platform does; never raises."""
        return platform_named(platform).renew(self, token, kind, app)

    def _url(self, platform: str, path: str, versioned: bool = True) -> str:
        base, version = self.hosts.get(platform, self.hosts["threads"])
        return f"{base}/{version}/{path}" if versioned else f"{base}/{path}"

    def debug_token(self, input_token: str, inspector: str, platform: str = "threads") -> CheckResult:
        """Inspect `input_token` with `inspector` (a tester's user token or an app token); never raises."""
        if not input_token or not inspector:
            raise GraphError("input_token and inspector must be non-empty")
        secrets = (input_token, inspector)
        url = self._url(platform, "debug_token")
        params = {"input_token": input_token, "access_token": inspector}

        def classify(answer: _Answer) -> CheckResult:
            return classify_debug(answer.status, answer.body, answer.usage, answer.retry_after, secrets)

        def failed(reason: str, message: str) -> CheckResult:
            return check_result(Verdict.ERROR, None, reason=reason, message=message)

        return self._call("debug_token", url, params, classify, failed)

    def refresh_access_token(
        self, token: str, platform: str = "threads", grant_type: str = "th_refresh_token"
    ) -> RefreshResult:
        """Refresh a long-lived token; on success `access_token` holds the string that replaces it."""
        if not token:
            raise GraphError("token must be non-empty")
        url = self._url(platform, "refresh_access_token", versioned=False)
        params = {"grant_type": grant_type, "access_token": token}
        return self._grant("refresh_access_token", url, params, (token,))

    def exchange_token(self, token: str, app_id: str, app_secret: str, platform: str) -> RefreshResult:
        """`oauth/access_token?grant_type=fb_exchange_token&set_token_expires_in_60_days=true`: a new 60-day
        string for a system-user token, with the app's id and secret."""
        if not token or not app_id or not app_secret:
            raise GraphError("token, app_id and app_secret must be non-empty")
        url = self._url(platform, "oauth/access_token")
        params = {"grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": app_secret}
        params |= {"set_token_expires_in_60_days": "true", "fb_exchange_token": token}
        return self._grant("exchange_token", url, params, (token, app_secret))

    def me(self, token: str, platform: str) -> CheckResult:
        """`GET /me?fields=user_id,username`: whether the token works, for a platform whose debug_token cannot
        describe it (Instagram Login); never raises."""
        if not token:
            raise GraphError("token must be non-empty")
        url = self._url(platform, "me")
        params = {"fields": "user_id,username", "access_token": token}

        def classify(answer: _Answer) -> CheckResult:
            return classify_me(answer.status, answer.body, answer.usage, answer.retry_after, (token,))

        def failed(reason: str, message: str) -> CheckResult:
            return check_result(Verdict.ERROR, None, reason=reason, message=message)

        return self._call("me", url, params, classify, failed)

    def _grant(
        self, endpoint: str, url: str, params: dict[str, str], secrets: tuple[str, ...]
    ) -> RefreshResult:
        def classify(answer: _Answer) -> RefreshResult:
            return classify_refresh(answer.status, answer.body, answer.usage, answer.retry_after, secrets)

        def failed(reason: str, message: str) -> RefreshResult:
            return refresh_result(Verdict.ERROR, None, reason=reason, message=message)

        return self._call(endpoint, url, params, classify, failed)

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
