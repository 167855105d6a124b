"""Slack incoming webhook: a `text` fallback plus Block Kit blocks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monitor.notify.base import Message
from monitor.notify.bodies import title
from monitor.notify.http import HttpNotifier
from monitor.notify.text import description, summary
from monitor.redact import url_secrets
from monitor.timefmt import iso_utc

MAX_ALERT_SECTIONS = 20  # Slack allows 50 blocks per message; keep messages readable long before that
SECTION_LIMIT = 3000  # Slack's maximum length of a section's text
_ICONS = {"critical": ":red_circle:", "warning": ":warning:", "resolved": ":white_check_mark:"}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(message: Message, now: float) -> dict[str, Any]:
    """The incoming-webhook JSON document for `message`."""
    heading = title(message)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": heading[:150], "emoji": True}}
    ]
    shown = message.alerts[:MAX_ALERT_SECTIONS]
    for event in shown:
        icon = _ICONS.get("resolved" if event.status == "resolved" else event.severity, "")
        text = f"{icon} *{escape(summary(event, now))}*\n{escape(description(event, now))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}})
    hidden = len(message.alerts) - len(shown)
    if hidden > 0:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"_and {hidden} more_"}})
    context = f"threads-token-monitor · {iso_utc(now)}"
    if message.external_url:
        context += f" · <{message.external_url}|open the monitor>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    fallback = "\n".join([heading, *(summary(event, now) for event in message.alerts)])
    return {"text": escape(fallback)[:SECTION_LIMIT], "blocks": blocks}


class SlackNotifier(HttpNotifier):
    """Slack answers 200 "ok"; 404 no_service, 403 invalid_token, 410 channel_is_archived are permanent."""

    type = "slack"

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        return url_secrets(settings.get("webhook_url"))

    def send(self, message: Message) -> None:
        body = json.dumps(payload(message, self.clock())).encode()
        self.post(self.setting("webhook_url"), body, {"Content-Type": "application/json; charset=utf-8"})
