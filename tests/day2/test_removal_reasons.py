"""Every way a token leaves the registry ends its alerts with the reason why, on every backend: removed by
hand, retired by its source, removed with its app (and the app's InspectorInvalid too)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from helpers_db import to_head
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.job import evaluate, exclusive
from monitor.config.load import AlertsConfig
from monitor.crypto import Vault
from monitor.db.models import AlertEventRow, App, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import NewToken, add_app, add_tokens, remove_app, remove_token
from monitor.sources.apply import apply_sync

T0 = 1_800_000_000.0


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    to_head(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def events(sessions: sessionmaker[Session], now: float) -> list[tuple[str, str, str, str | None]]:
    with exclusive(sessions, "alerts") as s:
        evaluate(s, AlertsConfig(), now)
    with transaction(sessions) as s:
        rows = [json.loads(p) for p in s.scalars(select(AlertEventRow.payload))]
        s.execute(delete(AlertEventRow))
    # (alert, its token or app, kind, reason)
    return sorted(
        (e["alertname"], e["labels"].get("token") or e["labels"]["app"], e["kind"], e.get("reason"))
        for e in rows
    )


def test_every_way_out_of_the_registry_says_why(sessions: sessionmaker[Session]) -> None:
    vault = Vault.from_keys([Fernet.generate_key()])
    with transaction(sessions) as s:
        add_app(s, vault, "growth", "INSPECTOR-1", kind="user_token", threads_app_id="1", now=T0)
        add_app(s, vault, "doomed", "INSPECTOR-2", kind="user_token", threads_app_id="2", now=T0)
        add_tokens(
            s, vault, [NewToken("by-hand", "growth", "THQW-1"), NewToken("gone", "doomed", "THQW-2")], now=T0
        )
        add_tokens(s, vault, [NewToken("synced", "growth", "THQW-3")], now=T0, source="app-db")
        s.execute(
            update(Token).values(
                is_valid=False, last_result="invalid", invalid_reason="revoked", updated_at=T0
            )
        )
        s.execute(
            update(App)
            .where(App.name == "doomed")
            .values(inspector_state="invalid", inspector_reason="dev_mode")
        )
    fired = events(sessions, T0)
    assert [(name, kind) for name, _, kind, _ in fired] == [("InspectorInvalid", "fire")] + [
        ("TokenInvalid", "fire")
    ] * 3
    with transaction(sessions) as s:
        remove_token(s, "by-hand", now=T0 + 60)
        apply_sync(s, vault, "app-db", [], T0 + 60)  # the row left the source
        remove_app(s, "doomed", cascade=True, now=T0 + 60)
    ended = events(sessions, T0 + 120)
    assert ended == [
        ("InspectorInvalid", "doomed", "resolve", "app removed"),
        ("TokenInvalid", "by-hand", "resolve", "removed"),
        ("TokenInvalid", "gone", "resolve", "app removed"),
        ("TokenInvalid", "synced", "resolve", "retired by source"),
    ]
