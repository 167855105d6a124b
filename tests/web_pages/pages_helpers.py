"""Shared by the status page tests: a migrated database filled with token rows written directly."""

from __future__ import annotations

from typing import Any

from helpers_db import to_head
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import App, Snapshot, Token
from monitor.db.session import make_engine, make_sessionmaker

NOW = 1_800_000_000.0
DAY = 86400.0


def migrated(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    to_head(engine)
    return make_sessionmaker(engine)


def add_apps(sessions: sessionmaker[Session], *names: str, refused: tuple[str, ...] = ()) -> dict[str, int]:
    """Register apps by name (those in `refused` have their inspector credential refused); name -> id."""
    with sessions.begin() as s:
        for name in names:
            s.execute(
                insert(App).values(
                    name=name,
                    inspector_kind="user_token",
                    inspector_secret="-",
                    inspector_fingerprint="0" * 12,
                    inspector_state="invalid" if name in refused else "ok",
                    created_at=NOW,
                )
            )
        return {n: i for i, n in s.execute(select(App.id, App.name))}


def token(name: str, app_id: int, **kw: Any) -> dict[str, Any]:
    """A checked, healthy token row (expires in 30 days, data access in 60) unless `kw` says otherwise."""
    row: dict[str, Any] = {
        "name": name,
        "app_id": app_id,
        "secret": "-",
        "fingerprint": "f" * 12,
        "labels": {},
        "auto_refresh": False,
        "source": None,
        "created_at": NOW - 10 * DAY,
        "updated_at": NOW,
        "secret_changed_at": NOW - 10 * DAY,
        "next_check_at": NOW + 3600,
        "consecutive_failures": 0,
        "refresh_failures": 0,
        "last_check_at": NOW - 60,
        "last_success_at": NOW - 60,
        "last_result": "valid",
        "observed_at": NOW - 60,
        "is_valid": True,
        "expires_at": NOW + 30 * DAY,
        "data_access_expires_at": NOW + 60 * DAY,
        "scopes": "threads_basic",
    }
    row.update(kw)
    return row


def add_tokens(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    with sessions.begin() as s:
        s.execute(insert(Token), rows)


def add_snapshots(sessions: sessionmaker[Session], name: str, rows: list[dict[str, Any]]) -> None:
    with sessions.begin() as s:
        token_id = s.scalar(select(Token.id).where(Token.name == name))
        defaults = {"result": "valid", "fingerprint": "a" * 12, "is_valid": True}
        s.execute(insert(Snapshot), [{**defaults, "token_id": token_id, **r} for r in rows])
