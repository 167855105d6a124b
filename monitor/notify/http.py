"""Base of the notifiers that POST to a URL (slack, webhook, alertmanager): one Session, no URL in errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests

from monitor import __version__
from monitor.notify.base import Notifier, NotifierSettings, NotifyError, classify_http
from monitor.redact import redact_url

USER_AGENT = f"threads-token-monitor/{__version__}"


class HttpNotifier(Notifier):
    """Base of the notifiers that POST to a URL: one Session, one timeout, no URL in any error."""

    def __init__(self, config: NotifierSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock=clock)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self.session.close()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], auth: tuple[str, str] | None = None
    ) -> str:
        """POST once and return the response text; raise NotifyError (never naming the URL) otherwise."""
        failure: str | None = None
        try:
            response = self.session.post(
                url,
                data=body,
                headers=dict(headers),
                auth=auth,
                timeout=self.config.timeout,
                allow_redirects=False,
            )
            text = response.content[:2048].decode("utf-8", "replace")
        except requests.RequestException as exc:
            failure = f"{type(exc).__name__} while posting to {redact_url(url)}"
        if failure is not None:
            # Raised outside the handler: no chained exception (its text has the full URL) rides along.
            raise NotifyError(failure)
        try:
            classify_http(response.status_code, response.headers, text)
        except NotifyError as exc:
            raise NotifyError(
                self.redact(exc.message), permanent=exc.permanent, retry_after=exc.retry_after
            ) from None
        return text
