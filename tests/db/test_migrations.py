"""The Alembic migrations on every backend: they build exactly the models, go down to base and up again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from monitor.db import migrate
from monitor.db.models import Base
from monitor.db.session import make_engine

TABLES = {"apps", "tokens", "snapshots", "alerts", "alert_events", "notifications", "sources", "callbacks"}
TABLES |= {"token_events", "fleet_deltas", "fleet_counts"}
TABLES |= {"deletions"}  # migration 0011


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def drift(engine: Engine) -> list[object]:
    """What autogenerate would write to make the database match the models (empty: no drift)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, Base.metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_head_produces_exactly_the_models(engine: Engine) -> None:
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.ensure_current(engine)
    assert tables(engine) == TABLES | {"alembic_version"}
    assert drift(engine) == []
    migrate.upgrade(engine)  # idempotent
    assert drift(engine) == []
    _assert_naming_convention(engine)


def _assert_naming_convention(engine: Engine) -> None:
    insp = inspect(engine)
    fks = {fk["name"] for fk in insp.get_foreign_keys("tokens")}
    assert fks == {"fk_tokens_app_id_apps"}
    uniques = {u["name"] for u in insp.get_unique_constraints("tokens")}
    indexes = {i["name"] for i in insp.get_indexes("tokens")}
    assert "uq_tokens_name" in uniques | indexes
    assert {"ix_tokens_due", "ix_tokens_app_id", "ix_tokens_source"} <= indexes


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert tables(engine) <= {"alembic_version"}
    assert migrate.current_revision(engine) is None
    with pytest.raises(migrate.SchemaOutdated, match="run `threads-token-monitor migrate`"):
        migrate.ensure_current(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert drift(engine) == []


def test_script_location_ships_with_the_package() -> None:
    location = migrate.script_location()
    assert (location / "env.py").is_file() and (location / "versions").is_dir()
    assert migrate.head_revision() is not None


def test_the_head_every_command_checks_is_alembics_head() -> None:
    """migrate.HEAD spares every command importing Alembic to learn the newest revision: it must be the one
    Alembic finds (a new migration bumps it)."""
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(migrate.script_location())).get_current_head() == migrate.HEAD


def test_an_empty_database_is_at_no_revision_and_a_migrated_one_at_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine, "0011")
        assert migrate.current_revision(engine) == "0011"
        with pytest.raises(migrate.SchemaOutdated, match=f"at 0011, this version needs {migrate.HEAD}"):
            migrate.ensure_current(engine)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.HEAD
        migrate.ensure_current(engine)
    finally:
        engine.dispose()
