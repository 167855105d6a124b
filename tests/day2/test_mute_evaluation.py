"""The alert evaluation under mutes, on every backend, through the incremental path the daemon runs: what
fires, escalates, repeats or ends during a mute reaches no notifier; an app's early unmute and a mute's end
each tell once what was held back, with the reason an alert ended."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from helpers_db import to_head
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.job import evaluate, exclusive
from monitor.config.load import AlertsConfig
from monitor.crypto import Vault
from monitor.db.models import Alert, AlertEventRow, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import NewToken, add_app, add_tokens, mute_app, mute_token, unmute_app

DAY, HOUR = 86400.0, 3600.0
T0 = 1_800_000_000.0
CFG = AlertsConfig()  # expiry 7d/2d, repeat 24h


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    to_head(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def observe(sessions: sessionmaker[Session], name: str, now: float, **values: Any) -> None:
    with transaction(sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(updated_at=now, **values))


class Evaluator:
    """Evaluations as the daemon chains them: full first, then incremental from the previous one."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions, self.since, self.seen = sessions, None, {}

    def __call__(self, now: float, full: bool = False) -> list[tuple[str, str, str, str | None]]:
        with exclusive(self.sessions, "alerts") as s:
            result = evaluate(s, CFG, now, None if full else self.since, self.seen)
        self.since, self.seen = now, result.seen
        with transaction(self.sessions) as s:
            rows = s.scalars(select(AlertEventRow.payload).order_by(AlertEventRow.id)).all()
            s.execute(delete(AlertEventRow))
        events = [json.loads(p) for p in rows]
        return sorted((e["labels"]["token"], e["alertname"], e["kind"], e.get("reason")) for e in events)


def test_mutes_hold_back_and_then_tell_once(sessions: sessionmaker[Session]) -> None:
    vault = Vault.from_keys([Fernet.generate_key()])
    with transaction(sessions) as s:
        add_app(s, vault, "growth", "INSPECTOR-1", kind="user_token", threads_app_id="1", now=T0)
        add_app(s, vault, "other", "INSPECTOR-2", kind="user_token", threads_app_id="2", now=T0)
        tokens = [NewToken("a", "growth", "THQW-a1"), NewToken("b", "growth", "THQW-b1")]
        add_tokens(s, vault, [*tokens, NewToken("c", "other", "THQW-c1")], now=T0 - DAY)
    valid = {"is_valid": True, "last_result": "valid", "observed_at": T0, "data_access_expires_at": None}
    observe(
        sessions, "a", T0, is_valid=False, last_result="invalid", invalid_reason="revoked", observed_at=T0
    )
    observe(sessions, "b", T0, **valid, expires_at=T0 + 3 * DAY)  # warning now, critical after a day
    observe(sessions, "c", T0, **valid, expires_at=T0 + 90 * DAY)
    run = Evaluator(sessions)
    assert run(T0, full=True) == [("a", "TokenInvalid", "fire", None), ("b", "TokenExpiring", "fire", None)]

    end = T0 + 2 * DAY
    with transaction(sessions) as s:
        mute_token(s, "a", end, "rotating", now=T0 + 60, via="cli")
        mute_token(s, "b", end, None, now=T0 + 60, via="cli")
        mute_app(s, "other", end, "planned work", now=T0 + 60)
    assert run(T0 + 120) == []
    # During the mute: a's string is replaced and fine, c turns invalid, b escalates, repeats fall due.
    observe(sessions, "a", T0 + HOUR, **valid, expires_at=T0 + 60 * DAY, secret_changed_at=T0 + HOUR)
    observe(sessions, "c", T0 + 2 * HOUR, is_valid=False, last_result="invalid", invalid_reason="expired")
    for now in (T0 + HOUR + 1, T0 + 2 * HOUR + 1, T0 + 1.2 * DAY, T0 + 1.25 * DAY):
        assert run(now) == [], now
    with sessions() as s:
        status = dict(s.execute(select(Alert.subject, Alert.status)).all())
    assert status == {"a": "resolving", "b": "firing", "c": "firing"}

    with transaction(sessions) as s:  # the app's mute ends early: c's alert is told now, once
        unmute_app(s, "other", now=T0 + 1.3 * DAY)
    assert run(T0 + 1.3 * DAY + 1) == [("c", "TokenInvalid", "fire", None)]
    assert run(T0 + 1.3 * DAY + 60) == []
    # The tokens' mute ends by itself: a's end (with why) and b's escalation, once each.
    assert run(end + 1) == [
        ("a", "TokenInvalid", "resolve", "replaced"),
        ("b", "TokenExpiring", "escalate", None),
    ]
    assert run(end + 60) == []
    assert run(end + 120, full=True) == []  # a full evaluation agrees: nothing was left owed
