"""Base of the notifiers that POST to a URL (slack, webhook, alertmanager): one Session, no URL in errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests

from monitor import __version__
from monitor.net import BoundedSession, DeadlineExceeded, TooLarge
from monitor.notify.base import Notifier, NotifierSettings, NotifyError, classify_http
from monitor.redact import redact_url

USER_AGENT = f"threads-token-monitor/{__version__}"


MAX_ANSWER = 64 * 1024  # a receiver's answer is read for its status and a short error text, never more


class HttpNotifier(Notifier):
    """Base of the notifiers that POST to a URL: one pooled session, a TOTAL deadline of the notifier's
    `timeout` per attempt (a receiver that trickles its answer cannot hold it longer), a capped answer,
    and no URL in any error."""

    def __init__(self, config: NotifierSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock=clock)
        self.http = BoundedSession(pool_size=2, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.http.close()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], auth: tuple[str, str] | None = None
    ) -> str:
        """POST once and return the response text; raise NotifyError (never naming the URL) otherwise."""
        failure: str | None = None
        try:
            reply = self.http.request(
                "POST", url, deadline=self.config.timeout, max_bytes=MAX_ANSWER,
                data=body, headers=dict(headers), auth=auth,
            )  # fmt: skip
        except TooLarge:
            failure = f"answer larger than {MAX_ANSWER} bytes from {redact_url(url)}"
        except DeadlineExceeded:
            failure = (
                f"Timeout while posting to {redact_url(url)}: no answer within {self.config.timeout:g} s"
            )
        except (requests.RequestException, OSError) as exc:
            failure = f"{type(exc).__name__} while posting to {redact_url(url)}"
        if failure is not None:
            # Raised outside the handler: no chained exception (its text has the full URL) rides along.
            raise NotifyError(failure)
        text = reply.body[:2048].decode("utf-8", "replace")
        try:
            classify_http(reply.status, reply.headers, text)
        except NotifyError as exc:
            raise NotifyError(
                self.redact(exc.message), permanent=exc.permanent, retry_after=exc.retry_after
            ) from None
        return text
