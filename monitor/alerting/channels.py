"""The outbox's channels: each configured notifier, and the channels of a notifier that has them.

A notifier with `channels` (the callback relay) serves rows named "NAME/..." as well as its own: each such
channel is delivered on a thread of its own, so one channel's backlog (one app's relays) never delays
another's, and its outcomes are counted under NAME.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import Notification
from monitor.notify import Notifier

__all__ = ["MAX_DUE_CHANNELS", "counted_as", "due_channels"]

MAX_DUE_CHANNELS = 256  # channels started in one delivery round at most (the rest: the next round)


def due_channels(
    sessions: sessionmaker[Session], notifiers: Mapping[str, Notifier], now: float
) -> list[tuple[str, Notifier]]:
    """Every notifier by its name, and the channels ("NAME/...") with due messages of those that have."""
    out = list(notifiers.items())
    families = [name for name, notifier in notifiers.items() if notifier.channels]
    if not families:
        return out
    with sessions() as s:
        due = s.scalars(
            select(Notification.notifier)
            .where(
                Notification.status == "pending",
                Notification.next_attempt_at <= now,
                or_(*(Notification.notifier.startswith(f"{f}/", autoescape=True) for f in families)),
            )
            .distinct()
            .limit(MAX_DUE_CHANNELS)
        ).all()
    for channel in due:
        family = next(f for f in families if channel.startswith(f"{f}/"))
        out.append((channel, notifiers[family]))
    return out


def counted_as(notifiers: Mapping[str, Notifier], channel: str) -> str:
    """The notifier a row's outcome is counted under: a channel's family, else its own name."""
    families = (name for name, notifier in notifiers.items() if notifier.channels)
    return next((f for f in families if channel.startswith(f"{f}/")), channel)
