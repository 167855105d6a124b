"""The built-in relay channel of `[callbacks] forward_url`: an accepted deauthorize callback, byte for byte.

Teams whose application already owns the deauthorize URL point Meta at the monitor; each accepted callback
becomes a notification row for the RELAY notifier (written with the callback, before the 200), so the
durable outbox delivers it with the retries, backoff, TTL and counters of any notification. The row's one
event carries the app, the content type and the original body (base64); `send` POSTs that body unchanged
with its content type to `forward_url` ("{app}" replaced by the app's name) and the delivery id.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from monitor.notify.base import AlertEvent, Message, NotifyError
from monitor.notify.http import HttpNotifier
from monitor.redact import url_secrets

__all__ = ["RELAY", "RelayNotifier", "RelaySettings", "relay_channel", "relay_message", "relay_notifiers"]

RELAY = "callbacks-forward"  # the notifier name of the relay: its counters, and the family of its channels
KIND = "DeauthorizeCallback"


@dataclass(frozen=True)
class RelaySettings:
    """NotifierSettings of the relay: no [[notifiers]] table, [callbacks] forward_url configures it."""

    url: str = field(repr=False)
    name: str = RELAY
    type: str = "relay"
    min_severity: str = "critical"
    match: Mapping[str, str] = field(default_factory=dict)
    send_resolved: bool = False
    timeout: float = 10.0

    @property
    def settings(self) -> Mapping[str, Any]:
        return {"url": self.url}


def relay_notifiers(forward_url: str | None) -> dict[str, RelayNotifier]:
    """{RELAY: the relay} when a forward_url is set, else nothing (for the outbox's notifier map)."""
    return {RELAY: RelayNotifier(RelaySettings(forward_url))} if forward_url else {}


def relay_channel(app: str) -> str:
    """The outbox channel of `app`'s relays: each app's relays queue apart, so a backlog of one app's
    (a flood, a slow handler) never delays another's. The relay notifier serves every channel."""
    # notifications.notifier holds 100 characters: apps whose names share their first 82 share a channel.
    return f"{RELAY}/{app}"[:100]


def relay_message(app: str, body: bytes, content_type: str, now: float) -> Message:
    """The outbox message that relays one callback's body (a fresh delivery id, kept on every retry)."""
    event = AlertEvent(
        alertname=KIND,
        status="firing",
        severity="critical",
        labels={"app": app, "content_type": content_type, "body": base64.b64encode(body).decode("ascii")},
        annotations={},
        starts_at=now,
        ends_at=None,
        fingerprint=uuid.uuid4().hex[:16],
        kind="relay",
    )
    return Message(str(uuid.uuid4()), relay_channel(app), f"{KIND}/{app}", (event,), now)


class RelayNotifier(HttpNotifier):
    type = "relay"
    channels = True  # the outbox also delivers its channels' rows, "callbacks-forward/APP"

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        return url_secrets(settings.get("url"))

    def send(self, message: Message) -> None:
        """POST the original body, unchanged, with its content type; NotifyError like any HTTP channel."""
        if len(message.alerts) != 1 or message.alerts[0].alertname != KIND:
            raise NotifyError("not a relayed callback", permanent=True)
        labels = message.alerts[0].labels
        url = str(self.setting("url")).replace("{app}", quote(labels["app"], safe=""))
        headers = {"Content-Type": labels["content_type"], "X-Threads-Monitor-Delivery": message.delivery_id}
        self.post(url, base64.b64decode(labels["body"]), headers)
