"""Notification channels: one class per type, one dict mapping type names to classes, and routing."""

from __future__ import annotations

from monitor.notify.alertmanager import AlertmanagerNotifier
from monitor.notify.apprise import AppriseNotifier
from monitor.notify.base import (
    SEVERITY_RANK,
    AlertEvent,
    Message,
    Notifier,
    NotifierSettings,
    NotifyError,
    classify_http,
)
from monitor.notify.console import ConsoleNotifier
from monitor.notify.email import EmailNotifier
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier

NOTIFIER_TYPES: dict[str, type[Notifier]] = {
    "slack": SlackNotifier,
    "webhook": WebhookNotifier,
    "email": EmailNotifier,
    "alertmanager": AlertmanagerNotifier,
    "console": ConsoleNotifier,
    "apprise": AppriseNotifier,
}


def build_notifier(cfg: NotifierSettings) -> Notifier:
    """The notifier for one `[[notifiers]]` table; config.py has validated `cfg.type` and the settings."""
    try:
        cls = NOTIFIER_TYPES[cfg.type]
    except KeyError:
        raise ValueError(f"notifier {cfg.name!r}: unknown type {cfg.type!r}") from None
    return cls(cfg)


def secrets_of(cfg: NotifierSettings) -> list[str]:
    """The secrets of the notifier `cfg` configures, in the forms it sends them (for redaction)."""
    cls = NOTIFIER_TYPES.get(cfg.type)
    return cls.secrets_of(cfg.settings) if cls is not None else []


def accepts(cfg: NotifierSettings, event: AlertEvent) -> bool:
    """Whether the notifier configured by `cfg` receives `event`.

    Below `min_severity` or not matching every `match` label -> no. A resolved event goes only where
    `send_resolved` is on and the firing event (same severity and labels) would have gone.
    """
    if event.status == "resolved" and not cfg.send_resolved:
        return False
    if SEVERITY_RANK.get(event.severity, 0) < SEVERITY_RANK.get(cfg.min_severity, 1):
        return False
    return all(event.labels.get(key) == value for key, value in cfg.match.items())


__all__ = [
    "NOTIFIER_TYPES",
    "AlertEvent",
    "AlertmanagerNotifier",
    "AppriseNotifier",
    "ConsoleNotifier",
    "EmailNotifier",
    "Message",
    "Notifier",
    "NotifierSettings",
    "NotifyError",
    "SlackNotifier",
    "WebhookNotifier",
    "accepts",
    "build_notifier",
    "classify_http",
    "secrets_of",
]
