"""tests/helpers_db.to_head copies a migrated template instead of migrating each test's database: the copy
must be the schema the migrations make (tables, columns, indexes, foreign keys and triggers), or a test on it
tests another program (the MariaDB copy once left out migration 0012's triggers, so the fleet counts of every
MariaDB test that used it stayed empty)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_db import to_head
from sqlalchemy import Engine, create_engine, inspect, text

from monitor.db import migrate


def schema(engine: Engine) -> dict[str, Any]:
    found = inspect(engine)
    tables = sorted(found.get_table_names())
    shape = {
        t: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(t)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(t)),
            sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in found.get_foreign_keys(t)),
        )
        for t in tables
    }
    return {"tables": shape, "triggers": triggers(engine)}


def triggers(engine: Engine) -> list[str]:
    query = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
        "mysql": "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
    }[engine.dialect.name]
    with engine.connect() as conn:
        return sorted(str(row[0]) for row in conn.execute(text(query)))


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two fresh, empty databases on one backend."""
    from conftest import fresh_url

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    made = [fresh_url(request.param, tmp_path / "a"), fresh_url(request.param, tmp_path / "b")]
    engines = (create_engine(next(made[0])), create_engine(next(made[1])))
    yield engines
    for engine, gen in zip(engines, made, strict=True):
        engine.dispose()
        next(gen, None)


def test_the_template_copy_is_the_migrated_schema(two: tuple[Engine, Engine]) -> None:
    migrated, copied = two
    migrate.upgrade(migrated)
    to_head(copied)
    expected = schema(migrated)
    assert expected["triggers"], "migration 0012 creates the fleet counts' triggers"
    assert schema(copied) == expected
