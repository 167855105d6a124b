"""Console: one line per alert on standard output (the demo uses it)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from monitor.notify.base import AlertEvent, Message, Notifier, NotifierSettings, NotifyError
from monitor.notify.text import phrase
from monitor.timefmt import iso_utc


def line(event: AlertEvent, now: float) -> str:
    """One line, e.g. "2026-12-01T10:00:00Z FIRING critical TokenExpiring token=t app=a: expires in ..." """
    who = " ".join(
        f"{key}={event.labels[key]}" for key in ("token", "app", "source") if event.labels.get(key)
    )
    what = event.annotations.get("summary") or phrase(event, now)
    status = "TEST" if event.kind == "test" else event.status.upper()
    return (
        f"{iso_utc(now)} {status} {event.severity} {event.alertname}"
        + (f" {who}" if who else "")
        + f": {what}"
    )


class ConsoleNotifier(Notifier):
    type = "console"

    def __init__(
        self,
        config: NotifierSettings,
        *,
        clock: Callable[[], float] = time.time,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(config, clock=clock)
        self.stream = stream

    def send(self, message: Message) -> None:
        stream = self.stream or sys.stdout  # looked up per send, so pytest's capsys and redirects work
        now = self.clock()
        try:
            stream.write("".join(line(event, now) + "\n" for event in message.alerts))
            stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe or closed file
            raise NotifyError(f"{type(exc).__name__} writing to the console") from exc
