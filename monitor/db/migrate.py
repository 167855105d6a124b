"""Alembic driven from the code: `init`/`migrate` upgrade to head, the daemon refuses an outdated schema."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import monitor.migrations as _migrations_pkg

# Alembic narrates every step at INFO; the commands print their own one-line summary.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaOutdated(Exception):
    """The database is not at the newest migration: run `threads-token-monitor migrate`."""


def script_location() -> Path:
    return Path(_migrations_pkg.__file__).resolve().parent


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def _run(engine: Engine, fn: str, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, "downgrade", revision)


def head_revision() -> str | None:
    script = ScriptDirectory(str(script_location()))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutdated unless the database is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"the database schema is at {current or 'nothing (empty database)'}, this version needs {head}: "
            "run `threads-token-monitor migrate`"
        )
