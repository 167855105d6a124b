"""Apprise: one notifier type for the 100+ services Apprise knows (Teams, Discord, PagerDuty, ntfy, email...).

Apprise URLs carry their credentials in every part (host, path, user, password, query), and Apprise logs
them: when it loads a URL, when a request fails, when a URL does not parse. So nothing Apprise logs may
reach a handler (`quiet_apprise_logs`), urllib3's request lines are scrubbed of every part of the URLs of
live notifiers (`SCRUBBER`), and the errors raised here name a service's kind and position, never its URL.
"""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from monitor.notify.base import Message, Notifier, NotifierSettings, NotifyError
from monitor.notify.bodies import title
from monitor.notify.text import description, summary
from monitor.redact import redact, url_secrets
from monitor.timefmt import iso_utc

if TYPE_CHECKING:
    import apprise as apprise_lib

log = logging.getLogger(__name__)

APPRISE_LOGGER = "apprise"
LINE_WIDTH = 60  # a phone's notification shade shows about this many characters a line
MAX_ALERTS = 10  # a group of 200 alerts says how many more there are rather than scroll forever
NOTIFY_TYPE_FAILURE, NOTIFY_TYPE_WARNING, NOTIFY_TYPE_SUCCESS = "failure", "warning", "success"


class _DropAll(logging.Filter):
    """Drops every record: Apprise's messages may carry URLs (with their credentials) at any level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


class SecretScrubber(logging.Filter):
    """Replaces the URL parts of live Apprise notifiers in the records of the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._owners: dict[int, tuple[str, ...]] = {}
        self._secrets: tuple[str, ...] = ()

    def register(self, owner: object, secrets: Iterable[str]) -> None:
        with self._lock:
            self._owners[id(owner)] = tuple(secrets)
            self._secrets = tuple({s for values in self._owners.values() for s in values})

    def unregister(self, owner: object) -> None:
        with self._lock:
            self._owners.pop(id(owner), None)
            self._secrets = tuple({s for values in self._owners.values() for s in values})

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted cannot be checked either: drop it
            return False
        clean = redact(text, secrets)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


SCRUBBER = SecretScrubber()


def quiet_apprise_logs() -> None:
    """Keep Apprise's own logging out of every handler and urllib3's request lines free of URL parts
    (idempotent). Apprise's level goes above CRITICAL and a filter drops whatever still arrives, so a log
    configuration that lowers the level later lets nothing through either; our own lines say what failed."""
    apprise_logger = logging.getLogger(APPRISE_LOGGER)
    apprise_logger.setLevel(logging.CRITICAL + 1)
    if not any(isinstance(f, _DropAll) for f in apprise_logger.filters):
        apprise_logger.addFilter(_DropAll())
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if SCRUBBER not in pool_logger.filters:
        pool_logger.addFilter(SCRUBBER)


def url_parts(url: str) -> list[str]:
    """Every part of an Apprise URL that may be a credential: the URL itself, its user, password, a host
    without a dot (Apprise puts webhook ids and bot tokens there), each path segment and query value."""
    out = url_secrets(url)
    try:
        parts = urlsplit(url)
        out += [parts.username or "", parts.password or ""]
        host = parts.hostname or ""
    except ValueError:
        return out
    if host and "." not in host and host != "localhost":
        out.append(host)
    out += [segment for segment in parts.path.split("/") if segment]
    out += [value for _, value in parse_qsl(parts.query)]
    return [part for part in out if part]


def scheme_of(url: str) -> str:
    """The scheme of `url` for a message, or "?" when there is none that looks like one."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isalnum() and len(scheme) <= 20 else "?"


def notify_type(message: Message) -> str:
    """Apprise's NotifyType value: any critical firing alert -> failure, else firing -> warning,
    all resolved -> success."""
    firing = [alert for alert in message.alerts if alert.status == "firing"]
    if not firing:
        return NOTIFY_TYPE_SUCCESS
    return NOTIFY_TYPE_FAILURE if any(a.severity == "critical" for a in firing) else NOTIFY_TYPE_WARNING


def _wrap(text: str) -> str:
    return textwrap.fill(text, LINE_WIDTH, break_long_words=False, break_on_hyphens=False)


def render_body(message: Message, now: float) -> str:
    """Plain text for a phone: per alert what happened and how long is left, when (UTC), and since when."""
    blocks = []
    for event in message.alerts[:MAX_ALERTS]:
        since = f"Severity {event.severity}, since {iso_utc(event.starts_at)}"
        blocks.append(
            "\n".join(_wrap(line) for line in (summary(event, now), description(event, now), since))
        )
    hidden = len(message.alerts) - MAX_ALERTS
    if hidden > 0:
        blocks.append(f"... and {hidden} more")
    footer = f"threads-token-monitor, {iso_utc(now)}"
    if message.external_url:
        footer += f"\n{message.external_url}"
    return "\n\n".join([*blocks, footer])


def load_services(urls: Sequence[str], timeout: float) -> apprise_lib.Apprise:
    """One Apprise object holding a service per URL, each with `timeout` as its connect and read timeout
    (Apprise's `cto`/`rto`) and its pause between sends at most half of it. ValueError naming the URL's
    position and scheme when Apprise cannot load it."""
    quiet_apprise_logs()  # first: importing apprise already logs
    # Imported here: apprise takes about 0.2 s to import, paid only where an apprise notifier is configured.
    import apprise as apprise_lib

    asset = apprise_lib.AppriseAsset(secure_logging=True, service_timeout=timeout)
    services = apprise_lib.Apprise(asset=asset)
    for index, url in enumerate(urls):
        service = apprise_lib.Apprise.instantiate(url, asset=asset)
        if service is None:
            raise ValueError(f"urls[{index}] ({scheme_of(url)}): not a URL Apprise can use")
        service.socket_connect_timeout = timeout
        service.socket_read_timeout = timeout
        # Apprise sleeps up to 5.5 s between two sends of one service; longer than the deadline, every
        # second message would time out (and still go out later, a duplicate of its retry).
        service.request_rate_per_sec = min(service.request_rate_per_sec, timeout / 2)
        services.add(service)
    return services


class AppriseNotifier(Notifier):
    """Settings: `urls`, a tuple of Apprise URLs (config.py parsed them and checked that Apprise can load
    each). One `notify` call per message reaches every URL; any failure is transient, so the outbox retries
    the whole message (a service that had succeeded may see it twice: delivery is at least once)."""

    type = "apprise"

    def __init__(self, config: NotifierSettings, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.urls: tuple[str, ...] = tuple(self.setting("urls"))
        SCRUBBER.register(self, self.secrets())
        self.services = load_services(self.urls, self.config.timeout)

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        return [part for url in settings.get("urls") or () for part in url_parts(str(url))]

    def close(self) -> None:
        SCRUBBER.unregister(self)

    def send(self, message: Message) -> None:
        kind = notify_type(message)
        try:
            result = self.services.notify(
                body=render_body(message, self.clock()),
                title=title(message),
                notify_type=kind,
                body_format="text",
                timeout=self.config.timeout,
            )
        except (
            Exception
        ) as exc:  # a plugin bug or an unexpected answer: its text may hold a URL, so not shown
            raise NotifyError(f"Apprise raised {type(exc).__name__}") from None
        if not result:
            raise NotifyError(self._failure_text(result))
        log.debug("notifier %s: delivered %s to %d service(s)", self.name, kind, len(self.urls))

    def _failure_text(self, result: Any) -> str:
        """ "Apprise: 1 of 2 services failed: JSON (failure)"; service names and states only."""
        failed = [
            f"{getattr(r, 'name', '?')} ({getattr(getattr(r, 'status', None), 'name', '?').lower()})"
            for r in result
            if not r
        ]
        status = getattr(getattr(result, "status", None), "name", "failure").lower()
        if not failed:
            return f"Apprise: delivery {status}"
        text = f"Apprise: {len(failed)} of {len(self.urls)} services failed: {', '.join(failed)}"
        return self.redact(text)
