"""Database URLs the configuration accepts: one that an installed SQLAlchemy dialect and driver can open.

Checked when the file is loaded (so `config check` refuses it) without connecting: the dialect is looked up
and its driver imported, and a SQLite file's place is looked at. Messages name the scheme and the driver,
never the URL (it may carry a password).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from monitor.config.values import ParseContext, accepts, schema_of, sqlalchemy_url

__all__ = ["database_url"]

# The URL to use per backend: the drivers this package installs.
USE = {
    "sqlite": "sqlite:////PATH/monitor.sqlite3",
    "postgresql": "postgresql+psycopg://",
    "mysql": "mysql+pymysql://",
    "mariadb": "mysql+pymysql://",
}
EVERY = "sqlite:////PATH, postgresql+psycopg:// or mysql+pymysql://"


@accepts(schema_of(sqlalchemy_url))
def database_url(value: Any, ctx: ParseContext) -> str:
    """A SQLAlchemy URL whose dialect and driver are installed; a SQLite file that can be created."""
    text = sqlalchemy_url(value, ctx)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(f"is not a valid SQLAlchemy URL (such as {EVERY})") from None
    scheme = url.drivername
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"no SQLAlchemy dialect for {scheme}:// is installed: use {EVERY}") from None
    try:
        dialect.import_dbapi()
    except ImportError:
        backend = url.get_backend_name()
        raise ValueError(
            f"the driver of {scheme}:// ({dialect.driver}) is not installed: use {USE.get(backend, EVERY)}"
        ) from None
    if url.get_backend_name() == "sqlite":
        _sqlite_place(url)
    return text


def _sqlite_place(url: URL) -> None:
    """A SQLite file must be a file, or creatable: its nearest existing ancestor must be a directory."""
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name).expanduser().absolute()
    if path.is_dir():
        raise ValueError(f"the SQLite database {path} is a directory, not a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"the SQLite database cannot be created: {parent} is not a directory")
            return
