"""A database at the newest migration for a test's setup, without running Alembic for every test.

    to_head(ctx.engine)     # instead of migrate.upgrade(ctx.engine) where the migration is not under test

Running the migrations is what tests/db/test_migrations.py (and `init`/`migrate` in the CLI tests) test; every
other test only needs their result. Each test process runs them once per backend into a template and copies
it: SQLite copies the migrated file, MariaDB replays the template's own `SHOW CREATE TABLE` and `SHOW CREATE
TRIGGER` statements (the exact schema the migrations made on that server, foreign keys and the fleet counts'
triggers included; seconds per test otherwise; tests/db/test_template.py holds the copy to the original),
PostgreSQL creates the test's database again with the template as its TEMPLATE (unless something is already
connected to it). On any database that is not empty this is migrate.upgrade itself.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from monitor.db import migrate
from monitor.db.session import make_engine

_sqlite_template: Path | None = None
_postgres_template: dict[str, str] = {}  # server URL -> this process's migrated template database
_mariadb_schema: dict[str, tuple[list[str], str]] = {}  # server URL -> (CREATE statements, revision)


def to_head(engine: Engine) -> None:
    """Bring the (normally fresh, empty) database behind `engine` to the newest migration."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite" and engine.url.database not in (None, "", ":memory:") and _empty(engine):
        _sqlite(engine)
    elif backend in ("mysql", "mariadb") and _empty(engine):
        _mariadb(engine)
    elif backend == "postgresql" and str(engine.url.database).startswith("ttm_") and _empty(engine):
        if not _postgres(engine):
            migrate.upgrade(engine)
    else:
        migrate.upgrade(engine)


def _sqlite(engine: Engine) -> None:
    global _sqlite_template
    path = Path(str(engine.url.database))
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="ttm-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = make_engine(f"sqlite:///{folder / 'template.sqlite3'}")
        migrate.upgrade(template)
        template.dispose()  # the last connection closing checkpoints the WAL into the file
        _sqlite_template = folder / "template.sqlite3"
    engine.dispose()
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(_sqlite_template, path)


def _empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def _postgres(engine: Engine) -> bool:
    """Drop the test's (empty) database and create it again from this process's migrated template; False
    when another connection holds it (then the caller migrates it instead)."""
    from conftest import FreshDatabase
    from support import database_server

    base = database_server("postgresql")
    if base not in _postgres_template:
        made = FreshDatabase(base)
        template = create_engine(made.__enter__())
        atexit.register(made.__exit__, None, None, None)
        migrate.upgrade(template)
        template.dispose()
        _postgres_template[base] = made.name
    name = engine.url.database
    engine.dispose()
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
            try:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_template[base]}"'))
            except DBAPIError:
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # empty again: the caller migrates it
                return False
    except DBAPIError:
        return False
    finally:
        admin.dispose()
    return True


def _mariadb(engine: Engine) -> None:
    server = engine.url.set(database="").render_as_string(hide_password=False)
    if server not in _mariadb_schema:
        from conftest import FreshDatabase

        with FreshDatabase(server) as url:
            template = create_engine(url)
            migrate.upgrade(template)
            with template.connect() as conn:
                tables = [
                    row[0] for row in conn.execute(text("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'"))
                ]
                ddl = [conn.execute(text(f"SHOW CREATE TABLE `{t}`")).one()[1] for t in tables]
                triggers = [row[0] for row in conn.execute(text("SHOW TRIGGERS"))]
                ddl += [conn.execute(text(f"SHOW CREATE TRIGGER `{t}`")).one()[2] for t in triggers]
            revision = migrate.current_revision(template)
            template.dispose()
        assert revision == migrate.head_revision()
        _mariadb_schema[server] = (ddl, revision)
    ddl, revision = _mariadb_schema[server]
    with engine.begin() as conn:
        conn.execute(
            text("SET FOREIGN_KEY_CHECKS = 0")
        )  # the tables come in name order, not dependency order
        for statement in ddl:
            conn.exec_driver_sql(statement)
        conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})
