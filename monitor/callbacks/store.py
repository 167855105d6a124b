"""What a callback does to the registry: the app secret that verifies it, and the checks it queues.

A verified callback is a `callbacks` row and a `recheck_at` on each token it names, written in one
transaction before the 200 goes out; whichever daemon is free claims those tokens (monitor.check.store's
claim_rechecks). A token is queued again only once its last callback check is RECHECK_SPACING old, so a
replayed or repeated request costs at most one API call per token per 10 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from monitor.callbacks.deletion import was_erased
from monitor.callbacks.recheck import RecheckRequest
from monitor.callbacks.server import Kind
from monitor.crypto import Vault
from monitor.db.models import App, Callback, Notification, Token
from monitor.notify.relay import relay_channel, relay_message

__all__ = [
    "RECHECK_SPACING",
    "MAX_QUEUED_PER_REQUEST",
    "RELAY_BACKLOG",
    "Queued",
    "app_exists",
    "app_platform",
    "app_secret",
    "queue_relay",
    "queue_tokens",
    "store_deauthorization",
    "store_recheck",
]

RECHECK_SPACING = 10.0  # seconds: at most one callback check per token in this long
MAX_QUEUED_PER_REQUEST = 100  # tokens one recheck request may queue
RELAY_BACKLOG = 1000  # relays pending per app at most: about as many as the outbox delivers in a minute


def app_secret(session: Session, vault: Vault, app: str) -> str | None:
    """The secret that signs `app`'s callbacks: the one set with `apps set-secret`/`--app-secret-*`, else the
    one inside an app-token inspector (TH|id|secret). None: unknown app, or no secret known."""
    row = session.execute(
        select(App.inspector_kind, App.inspector_secret, App.callback_secret).where(App.name == app)
    ).first()
    if row is None:
        return None
    if row.callback_secret:
        return vault.decrypt(row.callback_secret)
    if row.inspector_kind == "app_token":
        return vault.decrypt(row.inspector_secret).rsplit("|", 1)[-1] or None
    return None


def app_platform(session: Session, app: str) -> str | None:
    """The platform of a registered app (None: unknown app); migration 0010 made older apps Threads apps."""
    value = session.scalar(select(App.platform).where(App.name == app))
    return None if value is None else str(value)


def app_exists(session: Session, app: str) -> bool:
    return session.scalar(select(App.id).where(App.name == app)) is not None


def _naming(user_id: str) -> ColumnElement[bool]:
    """Tokens last seen with this id: as their user, or as their Page (`profile_id`: a Page that removed the
    app is named so)."""
    return or_(Token.user_id == user_id, Token.profile_id == user_id)


def _eligible(now: float) -> list[ColumnElement[bool]]:
    """Not queued already, and not checked because of a callback less than RECHECK_SPACING ago."""
    return [
        Token.recheck_at.is_(None),
        or_(Token.callback_check_at.is_(None), Token.callback_check_at <= now - RECHECK_SPACING),
    ]


def queue_tokens(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    kind: Kind,
    now: float,
    limit: int | None = None,
    *,
    new_string: bool = False,
) -> int:
    """Ask for an immediate check of the tokens matching `where` (at most `limit` of them, lowest ids
    first), except those already queued or checked because of a callback less than RECHECK_SPACING ago
    (a `new_string` is no repeat: only the queued ones are left out); the number queued."""
    eligible = [*where, Token.recheck_at.is_(None)] if new_string else [*where, *_eligible(now)]
    if limit is not None:
        ids = list(session.scalars(select(Token.id).where(*eligible).order_by(Token.id).limit(limit)))
        if not ids:
            return 0
        eligible.append(Token.id.in_(ids))
    stmt = update(Token).where(*eligible).values(recheck_at=now, recheck_reason=kind)
    result: CursorResult = session.execute(  # type: ignore[assignment]
        stmt, execution_options={"synchronize_session": False}
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Queued:
    """What a recheck request did: tokens `queued` for a check; `deferred`, named but queued already or
    checked less than RECHECK_SPACING ago; `refused`, beyond the request's cap (ask again for them)."""

    queued: int = 0
    deferred: int = 0
    refused: int = 0

    def to_json(self) -> dict[str, int]:
        return {"queued": self.queued, "deferred": self.deferred, "refused": self.refused}


def store_deauthorization(
    session: Session, app: str, user_id: str, issued_at: int, now: float, erased_key: str | None = None
) -> int | None:
    """Store a verified deauthorize callback and queue every token of `app` last seen with `user_id`; how
    many were queued, or None for a replay (this app, user and issued_at are stored already: no news, so
    nothing is stored, queued or relayed; a replay racing its original fails on ux_callbacks_once at commit).
    Also None for a user a data deletion request erased (`erased_key`, deletion.user_key) while the app
    holds no token naming them again: storing it would keep their id after the deletion said it was gone.
    Raises LookupError if the app is gone (removed since its secret was read): nothing is stored."""
    app_id = session.scalar(select(App.id).where(App.name == app))
    if app_id is None:
        raise LookupError("the app is no longer registered")
    if erased_key is not None and was_erased(session, erased_key):
        held = select(Token.id).where(Token.app_id == app_id, _naming(user_id)).limit(1)
        if session.scalar(held) is None:
            return None
    seen = select(Callback.id).where(
        Callback.kind == "deauthorize",
        Callback.app_id == app_id,
        Callback.user_id == user_id,
        Callback.issued_at == float(issued_at),
    )
    if session.scalar(seen) is not None:
        return None
    queued = queue_tokens(session, [Token.app_id == app_id, _naming(user_id)], "deauthorize", now)
    session.add(
        Callback(
            kind="deauthorize",
            app_id=app_id,
            user_id=user_id,
            issued_at=float(issued_at),
            received_at=now,
            tokens=queued,
        )
    )
    return queued


def store_recheck(
    session: Session, request: RecheckRequest, now: float, limit: int = MAX_QUEUED_PER_REQUEST
) -> Queued:
    """Store a recheck request and queue at most `limit` of the tokens it names (unknown names and apps
    match nothing), so one request cannot queue a fleet."""
    app_id = None
    where: list[ColumnElement[bool]]
    if request.tokens:
        where = [Token.name.in_(list(request.tokens))]
    else:
        app_id = session.scalar(select(App.id).where(App.name == request.app))
        where = [Token.app_id == app_id, Token.user_id == request.user_id]
    done = Queued()
    if request.tokens or app_id is not None:
        named = session.scalar(select(func.count()).select_from(Token).where(*where)) or 0
        eligible = session.scalar(select(func.count()).select_from(Token).where(*where, *_eligible(now))) or 0
        queued = queue_tokens(session, where, "recheck", now, limit=limit)
        done = Queued(queued=queued, deferred=named - eligible, refused=max(0, eligible - queued))
    session.add(
        Callback(kind="recheck", app_id=app_id, user_id=request.user_id, received_at=now, tokens=done.queued)
    )
    return done


def queue_relay(
    session: Session, app: str, body: bytes, content_type: str, now: float, *, backlog: int = RELAY_BACKLOG
) -> bool:
    """Queue the callback's original body for `[callbacks] forward_url` in the durable outbox (committed
    with the callback, so an acknowledged callback is relayed, retried like any notification), on the app's
    own channel. False, and nothing queued, when `backlog` relays of this app are pending already: a flood
    (or a handler down for long) costs that app's relays, never another app's nor the callback itself."""
    channel = relay_channel(app)
    pending = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.notifier == channel, Notification.status == "pending")
    )
    if (pending or 0) >= backlog:
        return False
    message = relay_message(app, body, content_type, now)
    session.add(
        Notification(
            delivery_id=message.delivery_id,
            notifier=message.notifier,
            payload=message.to_json(),
            status="pending",
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    return True
