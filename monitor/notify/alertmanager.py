"""Alertmanager: POST {url}/api/v2/alerts, re-sent by the caller while firing, endsAt set on resolve."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from monitor.notify.base import AlertEvent, Message
from monitor.notify.http import HttpNotifier
from monitor.notify.text import description, summary
from monitor.redact import credential_forms
from monitor.timefmt import rfc3339

# Alertmanager resolves an alert by itself at endsAt. The alert ladder re-sends a firing alert every
# repeat_interval (24 h by default), so a firing alert claims a little more than that; a larger
# repeat_interval needs a larger `resolve_timeout` setting (config: a duration, default 26h).
DEFAULT_RESOLVE_TIMEOUT = 26 * 3600.0
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """A valid Prometheus label name: invalid characters become "_", a leading digit gets a "_"."""
    clean = _LABEL_NAME.sub("_", name) or "_"
    return f"_{clean}" if clean[0].isdigit() else clean


def postable(event: AlertEvent, message: Message, now: float, resolve_timeout: float) -> dict[str, Any]:
    annotations = dict(event.annotations)
    annotations.setdefault("summary", summary(event, now))
    annotations.setdefault("description", description(event, now))
    if event.reason:  # Alertmanager keeps annotations: why it ended ("replaced", "removed", ...)
        annotations["resolved_reason"] = event.reason
    if event.status == "resolved":
        ends_at = event.ends_at if event.ends_at is not None else now
    elif event.kind == "test":
        ends_at = now + 300  # `notify test` must not leave an alert firing (and paging) for a day
    else:
        ends_at = now + resolve_timeout
    alert: dict[str, Any] = {
        # Alertmanager treats an empty label value as an absent label and rejects some names.
        "labels": {label_name(k): v for k, v in event.labels.items() if v != ""},
        "annotations": annotations,
        "startsAt": rfc3339(event.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    if message.external_url:  # the field is validated as a URI, so an empty string is left out
        alert["generatorURL"] = message.external_url
    return alert


class AlertmanagerNotifier(HttpNotifier):
    type = "alertmanager"

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        # Sent as HTTP Basic: base64 of "user:password" is what a receiver echoes back.
        return credential_forms(settings.get("username"), settings.get("password"))

    def send(self, message: Message) -> None:
        now = self.clock()
        timeout = float(self.config.settings.get("resolve_timeout") or DEFAULT_RESOLVE_TIMEOUT)
        alerts = [postable(event, message, now, timeout) for event in message.alerts]
        url = str(self.setting("url")).rstrip("/") + "/api/v2/alerts"
        username = self.config.settings.get("username")
        auth = (str(username), str(self.config.settings.get("password") or "")) if username else None
        self.post(url, json.dumps(alerts).encode(), {"Content-Type": "application/json"}, auth=auth)
