"""Grouping: alert events become one message per notifier and group, stored as `notifications` rows."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from monitor.db.chunks import in_chunks
from monitor.db.models import AlertEventRow, Notification
from monitor.notify import AlertEvent, Message, NotifierSettings, accepts
from monitor.notify.base import SEVERITY_RANK

log = logging.getLogger("monitor.outbox")


# --- grouping ------------------------------------------------------------------------------------------


def group_key(events: Sequence[AlertEvent]) -> str:
    """Alertmanager style: `{}:{alertname="TokenExpiring"}` when the group has one alertname, else `{}:{}`."""
    names = {e.alertname for e in events}
    return f'{{}}:{{alertname="{next(iter(names))}"}}' if len(names) == 1 else "{}:{}"


def _order(e: AlertEvent) -> tuple[Any, ...]:
    return (e.status != "firing", -SEVERITY_RANK.get(e.severity, 0), e.alertname, e.labels.get("token", ""))


def route(
    events: Sequence[AlertEvent],
    notifiers: Iterable[NotifierSettings],
    now: float,
    external_url: str = "",
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[Message]:
    """One message per notifier holding every event it accepts (none when it accepts none). Pure."""
    ordered = sorted(events, key=_order)
    messages = []
    for cfg in notifiers:
        mine = tuple(e for e in ordered if accepts(cfg, e))
        if mine:
            messages.append(Message(new_id(), cfg.name, group_key(mine), mine, now, external_url))
    return messages


def enqueue_pending(
    session: Session,
    notifiers: Sequence[NotifierSettings],
    now: float,
    group_wait: float,
    external_url: str = "",
) -> int:
    """Once the oldest pending event is `group_wait` old, turn all pending events into one message per
    notifier (rows of `notifications`) and consume them, in the caller's transaction. Returns messages."""
    # The oldest event's age first (one entry of the created_at index): a tick during group_wait reads
    # nothing else, however many events wait (a first sweep of a fleet in trouble queues thousands).
    oldest = session.scalar(select(func.min(AlertEventRow.created_at)))
    if oldest is None or now - oldest < group_wait:
        return 0
    rows = session.execute(
        select(AlertEventRow.id, AlertEventRow.created_at, AlertEventRow.payload)
        .order_by(AlertEventRow.created_at, AlertEventRow.id)
        .limit(20000)
    ).all()
    if not rows:
        return 0
    events = [AlertEvent.from_dict(json.loads(r.payload)) for r in rows]
    messages = route(events, notifiers, now, external_url)
    if messages:
        session.execute(insert(Notification), [_row(m, now) for m in messages])
    ids = [r.id for r in rows]
    for chunk in in_chunks(ids):
        session.execute(delete(AlertEventRow).where(AlertEventRow.id.in_(chunk)))
    log.info("grouped %d alert event(s) into %d notification(s)", len(events), len(messages))
    return len(messages)


def _row(m: Message, now: float) -> dict[str, Any]:
    return {
        "delivery_id": m.delivery_id,
        "notifier": m.notifier,
        "payload": m.to_json(),
        "status": "pending",
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
