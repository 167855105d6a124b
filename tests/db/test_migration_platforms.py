"""Migration 0010 (SPEC 16) on every backend: a 0009 registry's apps become Threads apps, its tokens keep
their facts with an unknown expiry source, and a SYSTEM_USER-sized type fits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from monitor.db import migrate
from monitor.db.session import make_engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


APP = (
    "INSERT INTO apps (id, name, inspector_kind, inspector_secret, inspector_fingerprint, created_at)"
    " VALUES (1, 'growth', 'app_token', 'x', 'f', 1.0)"
)
TOKEN = (
    "INSERT INTO tokens (id, name, app_id, secret, fingerprint, labels, auto_refresh, created_at, updated_at,"
    " secret_changed_at, next_check_at, consecutive_failures, refresh_failures, writeback_pending,"
    " scopes_lost, expires_at, token_type)"
    " VALUES (1, 'main', 1, 'x', 'f', '{}', false, 1.0, 1.0, 1.0, 1.0, 0, 0, false, false, 5000.0, 'USER')"
)


def test_a_0009_registry_keeps_its_apps_as_threads_apps(engine: Engine) -> None:
    migrate.upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(text(APP))
        conn.execute(text(TOKEN))
        conn.execute(
            text(
                "INSERT INTO snapshots (token_id, observed_at, result, fingerprint)"
                " VALUES (1, 2.0, 'valid', 'f')"
            )
        )
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT name, platform FROM apps")).all() == [("growth", "threads")]
        row = conn.execute(text("SELECT expires_at, token_type, expiry_source FROM tokens")).one()
        assert tuple(row) == (5000.0, "USER", None)
        # No table was rebuilt under its history (a SQLite batch rebuild of `tokens` cascades to snapshots).
        assert conn.execute(text("SELECT COUNT(*) FROM snapshots")).scalar_one() == 1
        conn.execute(text("UPDATE tokens SET token_type = 'SYSTEM_USER_OF_A_BUSINESS'"))
        conn.execute(
            text(
                "INSERT INTO apps (id, name, inspector_kind, inspector_secret, inspector_fingerprint,"
                " created_at, platform) VALUES (2, 'pages', 'app_token', 'x', 'f', 1.0, 'facebook')"
            )
        )
    migrate.downgrade(engine, "0009")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT token_type FROM tokens")).scalar_one() == "SYSTEM_USER_OF_A_"[:16]
        assert conn.execute(text("SELECT COUNT(*) FROM apps")).scalar_one() == 2
