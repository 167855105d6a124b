"""Generic webhook: Alertmanager webhook format v4, optionally signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from monitor.notify.base import AlertEvent, Message
from monitor.notify.http import HttpNotifier
from monitor.notify.text import common_labels, common_pairs, description, summary
from monitor.redact import url_secrets
from monitor.timefmt import rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt for an alert still firing


def _alert(event: AlertEvent, message: Message, now: float) -> dict[str, Any]:
    annotations = dict(event.annotations)
    annotations.setdefault("summary", summary(event, now))
    annotations.setdefault("description", description(event, now))
    if event.reason:
        annotations["resolved_reason"] = event.reason
    alert: dict[str, Any] = {
        "status": event.status,
        "labels": dict(event.labels),
        "annotations": annotations,
        "startsAt": rfc3339(event.starts_at),
        "endsAt": rfc3339(event.ends_at) if event.status == "resolved" and event.ends_at else ZERO_TIME,
        "generatorURL": message.external_url,
        "fingerprint": event.fingerprint,
    }
    if event.reason:  # beside Alertmanager's fields: why it ended ("replaced", "removed", ...)
        alert["resolved_reason"] = event.reason
    return alert


def payload(message: Message, now: float, receiver: str) -> dict[str, Any]:
    """The Alertmanager v4 webhook document for `message`; `receiver` is the notifier's name."""
    alerts = [_alert(event, message, now) for event in message.alerts]
    names = {event.alertname for event in message.alerts}
    return {
        "version": "4",
        "groupKey": message.group_key,
        "truncatedAlerts": 0,
        "status": message.status(),
        "receiver": receiver,
        "groupLabels": {"alertname": next(iter(names))} if len(names) == 1 else {},
        "commonLabels": common_labels(message.alerts),
        "commonAnnotations": common_pairs(alert["annotations"] for alert in alerts),
        "externalURL": message.external_url,
        "alerts": alerts,
    }


# sha256=<hex> over the body alone can be replayed: sent for one more release beside HEADER, then dropped.
LEGACY_HEADER = "X-Threads-Monitor-Signature"
HEADER = "X-Threads-Monitor-Signature-V1"  # t=<unix>,v1=<hex> over "<t>.<body>": receivers can refuse replays


def sign(secret: str, body: bytes) -> str:
    """The legacy X-Threads-Monitor-Signature value for `body`: "sha256=<hex HMAC-SHA256>"."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_timestamped(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Threads-Monitor-Signature-V1 value: "t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'>".

    A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant time,
    and refuses a timestamp older than a few minutes: a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class WebhookNotifier(HttpNotifier):
    type = "webhook"

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        return [*url_secrets(settings.get("url")), str(settings.get("secret") or "")]

    def send(self, message: Message) -> None:
        # Serialise once: the signature covers exactly the bytes on the wire.
        body = json.dumps(payload(message, self.clock(), self.name), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Threads-Monitor-Delivery": message.delivery_id}
        secret = self.config.settings.get("secret")
        if secret:
            headers[HEADER] = sign_timestamped(str(secret), body, int(self.clock()))
            headers[LEGACY_HEADER] = sign(str(secret), body)
        self.post(self.setting("url"), body, headers)
