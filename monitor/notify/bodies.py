"""A whole message in words: its Alertmanager-style subject line and its plain-text and HTML bodies, made of
each alert's summary and description (monitor.notify.text)."""

from __future__ import annotations

import html
from collections.abc import Mapping

from monitor.notify.base import Message
from monitor.notify.text import common_labels, description, summary
from monitor.timefmt import iso_utc


def title(message: Message) -> str:
    """Alertmanager-style subject: "[FIRING:2] TokenExpiring (app growth)" or "[RESOLVED] TokenInvalid"."""
    status = message.status()
    firing = sum(1 for a in message.alerts if a.status == "firing")
    head = f"[FIRING:{firing}]" if status == "firing" else "[RESOLVED]"
    if message.alerts and all(a.kind == "test" for a in message.alerts):
        head = "[TEST]"
    names = ", ".join(sorted({a.alertname for a in message.alerts}))
    common = common_labels(message.alerts)
    scope = " ".join(f"{key} {common[key]}" for key in ("token", "app", "source") if key in common)
    return f"{head} {names}" + (f" ({scope})" if scope else "")


def label_pairs(labels: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def render_text(message: Message, now: float) -> str:
    """The plain-text body (email text part, Slack fallback is shorter)."""
    lines = [title(message), ""]
    for event in message.alerts:
        lines += [
            f"* {summary(event, now)}",
            f"  {description(event, now)}",
            f"  severity: {event.severity}, since {iso_utc(event.starts_at)}",
            f"  labels: {label_pairs(event.labels)}",
            "",
        ]
    if message.external_url:
        lines.append(f"Monitor: {message.external_url}")
    lines.append(f"Sent by threads-token-monitor at {iso_utc(now)} (delivery {message.delivery_id}).")
    return "\n".join(lines) + "\n"


_COLOURS: Mapping[str, str] = {"critical": "#b00020", "warning": "#b26a00", "resolved": "#1b7f3b"}


def render_html(message: Message, now: float) -> str:
    """The HTML body; every value is escaped."""
    e = html.escape
    parts = [
        '<!DOCTYPE html><html><body style="font-family:sans-serif">',
        f"<h2>{e(title(message))}</h2>",
    ]
    for event in message.alerts:
        colour = _COLOURS.get("resolved" if event.status == "resolved" else event.severity, "#333")
        labels = "".join(
            f"<tr><td>{e(k)}</td><td><code>{e(v)}</code></td></tr>" for k, v in sorted(event.labels.items())
        )
        parts.append(
            f'<div style="border-left:4px solid {colour};padding-left:8px;margin-bottom:16px">'
            f"<p><strong>{e(summary(event, now))}</strong></p>"
            f"<p>{e(description(event, now))}</p>"
            f"<p>Severity: {e(event.severity)}, since {e(iso_utc(event.starts_at))}</p>"
            f"<table>{labels}</table></div>"
        )
    if message.external_url:
        parts.append(f'<p><a href="{e(message.external_url)}">{e(message.external_url)}</a></p>')
    parts.append(
        f'<p style="color:#666">Sent by threads-token-monitor at {e(iso_utc(now))} '
        f"(delivery {e(message.delivery_id)}).</p></body></html>"
    )
    return "\n".join(parts) + "\n"
