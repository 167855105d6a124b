"""Mutes, like an Alertmanager silence: a token (or every token of an app) is still checked and shown and its
alerts still fire, but no notifier hears of them until the mute ends. A mute ends by itself; the alert
ladder (monitor.alerting.rules) then notifies once what still fires."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from monitor.config.load import parse_duration
from monitor.db.models import Token
from monitor.registry.apps import get_app
from monitor.registry.events import record
from monitor.registry.names import RegistryError, check_comment
from monitor.registry.tokens import get_token
from monitor.timefmt import iso_utc, parse_iso_utc

__all__ = ["MAX_MUTE", "Mute", "mute_app", "mute_end", "mute_token", "unmute_app", "unmute_token"]

MAX_MUTE = 3650 * 86400.0  # ten years: longer is a typo, and a removal says "stop watching it" better


@dataclass(frozen=True)
class Mute:
    """A mute in force: until when, since when, and why."""

    until: float
    since: float | None
    comment: str | None


def mute_end(now: float, duration: str | None = None, until: str | None = None) -> float:
    """When a mute asked for as `--for 7d` or `--until 2027-01-31T00:00Z` ends (RegistryError if it makes
    no sense: both or neither given, not a duration or a time, in the past, or over ten years)."""
    if (duration is None) == (until is None):
        raise RegistryError("give how long (for, e.g. 7d) or until when (until, e.g. 2027-01-31T00:00Z)")
    try:
        end = now + parse_duration(duration) if duration is not None else parse_iso_utc(str(until))
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    if end <= now:
        raise RegistryError(f"the mute would end in the past ({iso_utc(end)})")
    if end - now > MAX_MUTE:
        raise RegistryError("a mute ends within ten years (remove a token you no longer want watched)")
    return end


def mute_token(
    session: Session, name: str, until: float, comment: str | None, *, now: float, via: str
) -> Mute:
    """Mute one token until `until` (a later mute replaces an earlier one). Any token may be muted, a
    source's too: a mute changes nothing the source owns."""
    token = get_token(session, name)
    token.muted_until, token.muted_at, token.mute_comment = until, now, check_comment(comment)
    token.updated_at = now  # the alert evaluation looks at it again
    record(session, token.id, "muted", via, now, detail=_until(until, token.mute_comment))
    return Mute(until, now, token.mute_comment)


def unmute_token(session: Session, name: str, *, now: float, via: str) -> bool:
    """End a token's own mute now (False: it had none in force). Its app's mute, if any, stays."""
    token = get_token(session, name)
    was = token.muted_until is not None and token.muted_until > now
    token.muted_until, token.muted_at, token.mute_comment = None, None, None
    if was:
        token.updated_at = now
        record(session, token.id, "unmuted", via, now)
    return was


def mute_app(session: Session, name: str, until: float, comment: str | None, *, now: float) -> Mute:
    """Mute every token of an app (those added later too) and its InspectorInvalid. Nothing else is
    written: each alert of the app is held the next time it is evaluated, before it could notify."""
    app = get_app(session, name)
    app.muted_until, app.muted_at, app.mute_comment = until, now, check_comment(comment)
    return Mute(until, now, app.mute_comment)


def unmute_app(session: Session, name: str, *, now: float) -> bool:
    app = get_app(session, name)
    was = app.muted_until is not None and app.muted_until > now
    app.muted_until, app.muted_at, app.mute_comment = None, None, None
    if was:
        _touch(session, app.id, now)
    return was


def _touch(session: Session, app_id: int, now: float) -> None:
    """An early unmute: the app's tokens may have alerts held until a later time, so the next evaluation
    looks at them now (one UPDATE per operator action, through the app_id index)."""
    session.execute(
        update(Token).where(Token.app_id == app_id).values(updated_at=now),
        execution_options={"synchronize_session": False},
    )


def _until(until: float, comment: str | None) -> str:
    return f"until {iso_utc(until)}" + (f": {comment}" if comment else "")
