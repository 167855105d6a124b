"""The mutes in force at `now`, as the alert evaluation and `alerts list` read them: the muted tokens (an
indexed range over the few that have a mute) and the muted apps (a small table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import App, Token
from monitor.state import mute_in_force

__all__ = ["Mutes", "read_mutes"]


@dataclass(frozen=True)
class Mutes:
    """Token id -> end of its own mute; app name -> end of the app's mute (only those in force)."""

    tokens: Mapping[int, float] = field(default_factory=dict)
    apps: Mapping[str, float] = field(default_factory=dict)
    now: float = 0.0

    def of_alert(self, token_id: int | None, labels: Mapping[str, str]) -> float | None:
        """When the mute over an alert ends (its token's or its app's), None if it is not muted. A source's
        alert has neither."""
        token = self.tokens.get(token_id) if token_id is not None else None
        app = self.apps.get(labels.get("app", "")) if "app" in labels else None
        return mute_in_force(token, app, self.now)


def read_mutes(session: Session, now: float) -> Mutes:
    tokens = session.execute(select(Token.id, Token.muted_until).where(Token.muted_until > now)).all()
    apps = session.execute(select(App.name, App.muted_until).where(App.muted_until > now)).all()
    return Mutes(
        {i: float(at) for i, at in tokens if at is not None},
        {name: float(at) for name, at in apps if at is not None},
        now,
    )
