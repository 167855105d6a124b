"""Alembic driven from the code: `init`/`migrate` upgrade to head, the daemon refuses an outdated schema."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

import monitor.migrations as _migrations_pkg

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# The newest migration. Every command and the daemon check the schema against it without importing Alembic
# (a tenth of a command's start-up); tests/db/test_migrations.py holds it equal to Alembic's own head.
HEAD = "0013"

# Alembic narrates every step at INFO; the commands print their own one-line summary.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaOutdated(Exception):
    """The database is not at the newest migration: run `threads-token-monitor migrate`."""


def script_location() -> Path:
    return Path(_migrations_pkg.__file__).resolve().parent


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def _run(engine: Engine, fn: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, "downgrade", revision)


def head_revision() -> str:
    return HEAD


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's `alembic_version` row), None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found: str | None = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return found


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutdated unless the database is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"the database schema is at {current or 'nothing (empty database)'}, this version needs {head}: "
            "run `threads-token-monitor migrate`"
        )
