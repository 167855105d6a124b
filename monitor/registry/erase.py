"""Erase what the registry holds about one user of one app: Meta's data deletion request (SPEC 16).

`erase_user` runs inside the caller's transaction, so the erasure and the record of it commit together or
not at all. It deletes:
- the app's tokens last seen with that id (as `user_id`, or as a Page's `profile_id` where the schema has
  one), their snapshots and change history, and any snapshot of the app's other tokens naming the id;
- the callback and recheck rows of the app naming the id;
- the resolved alerts of those tokens, and every alert whose text names the id;
- alert events and outbox messages (sent or pending, relays of callbacks included) that name the id:
  `mentions(text)` says which (a LIKE finds the candidates, `mentions` decides), since only the caller
  knows how a relayed callback body names a user. Texts are searched whatever app they belong to: an id
  in them is the user's.

A firing alert of an erased token whose text does not name the user is not deleted but ended, with the
reason "deleted on request" (never "valid again"): the notifiers that heard it fire hear it end, and no
incident stays open forever. It carries the token's name and labels, as it did when it fired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from monitor.db.models import Alert, AlertEventRow, App, Callback, Notification, Snapshot, Token, TokenEvent
from monitor.notify.relay import relay_channel
from monitor.registry.tokens import delete_tokens

__all__ = ["DELETED", "Erased", "erase_user"]

DELETED = "deleted on request"  # the reason an erased token's firing alert ends with
_CHUNK = 500


@dataclass(frozen=True)
class Erased:
    """Rows deleted, by kind; `alerts_ended`: firing alerts ended as "deleted on request"."""

    tokens: int = 0
    snapshots: int = 0
    events: int = 0
    callbacks: int = 0
    alerts: int = 0
    alerts_ended: int = 0
    alert_events: int = 0
    notifications: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def _naming(model: Any, user_id: str) -> ColumnElement[bool]:
    """The rows of `model` (Token, Snapshot) that name `user_id`: as user, or as Page (profile_id)."""
    return or_(model.user_id == user_id, model.profile_id == user_id)


def _count(session: Session, model: Any, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _delete(session: Session, model: Any, *where: ColumnElement[bool]) -> int:
    """Delete the rows of `model` matching `where`; how many there were."""
    found = _count(session, model, *where)
    if found:
        session.execute(delete(model).where(*where), execution_options={"synchronize_session": False})
    return found


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def _delete_ids(session: Session, model: Any, ids: Sequence[int]) -> int:
    for chunk in _chunks(ids):
        stmt = delete(model).where(model.id.in_(chunk))
        session.execute(stmt, execution_options={"synchronize_session": False})
    return len(ids)


def erase_user(
    session: Session, app: str, user_id: str, *, now: float, mentions: Callable[[str], bool]
) -> Erased:
    """Delete what the registry holds about `user_id` of `app` (see the module's text); the counts.
    Raises LookupError if the app is not registered: nothing is deleted."""
    app_id = session.scalar(select(App.id).where(App.name == app))
    if app_id is None:
        raise LookupError("the app is no longer registered")
    ids = list(session.scalars(select(Token.id).where(Token.app_id == app_id, _naming(Token, user_id))))
    app_tokens = select(Token.id).where(Token.app_id == app_id).scalar_subquery()
    snapshots = _delete(session, Snapshot, Snapshot.token_id.in_(app_tokens), _naming(Snapshot, user_id))
    events = alerts = ended = 0
    for chunk in _chunks(ids):
        snapshots += _delete(session, Snapshot, Snapshot.token_id.in_(chunk))
        events += _delete(session, TokenEvent, TokenEvent.token_id.in_(chunk))
        alerts += _delete(session, Alert, Alert.token_id.in_(chunk), Alert.status == "resolved")
    alerts += _delete_ids(session, Alert, _alerts_naming(session, user_id, mentions))
    for chunk in _chunks(ids):
        ended += _count(session, Alert, Alert.token_id.in_(chunk), Alert.status == "firing")
    delete_tokens(session, ids, now=now, reason=DELETED)  # the rest: firing alerts end, never "valid again"
    callbacks = _delete(session, Callback, Callback.app_id == app_id, Callback.user_id == user_id)
    return Erased(
        tokens=len(ids),
        snapshots=snapshots,
        events=events,
        callbacks=callbacks,
        alerts=alerts,
        alerts_ended=ended,
        alert_events=_delete_ids(session, AlertEventRow, _events_naming(session, user_id, mentions)),
        notifications=_delete_ids(session, Notification, _messages_naming(session, app, user_id, mentions)),
    )


def _alerts_naming(session: Session, user_id: str, mentions: Callable[[str], bool]) -> list[int]:
    """Alerts whose subject, labels or annotations name the id (an operator's label may)."""
    like = f"%{user_id}%"
    texts = (Alert.subject, cast(Alert.labels, Text), cast(Alert.annotations, Text))
    stmt = select(Alert.id, *texts).where(or_(*[text.like(like) for text in texts]))
    return [row[0] for row in session.execute(stmt) if mentions(" ".join(str(v) for v in row[1:]))]


def _events_naming(session: Session, user_id: str, mentions: Callable[[str], bool]) -> list[int]:
    rows = session.execute(select(AlertEventRow.id, AlertEventRow.payload).where(
        AlertEventRow.payload.like(f"%{user_id}%")
    ))  # fmt: skip
    return [row.id for row in rows if mentions(row.payload)]


def _messages_naming(session: Session, app: str, user_id: str, mentions: Callable[[str], bool]) -> list[int]:
    """Outbox messages naming the id: in their text, or in a relayed callback body of this app (encoded)."""
    where = or_(Notification.payload.like(f"%{user_id}%"), Notification.notifier == relay_channel(app))
    rows = session.execute(select(Notification.id, Notification.payload).where(where))
    return [row.id for row in rows if mentions(row.payload)]
