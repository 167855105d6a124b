"""Shared fixtures: fresh databases on every configured backend, config files, the CLI in-process.

PostgreSQL and MariaDB tests run when MONITOR_TEST_POSTGRES_URL / MONITOR_TEST_MARIADB_URL point at a server
that answers (with CI=true they fail otherwise: tests/support.py); each test gets a database of its own
(created and dropped here), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from support import DATABASE_ENV, database_server, tool

BACKENDS = ["sqlite", "postgresql", "mariadb"]
ENV = DATABASE_ENV


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.needs_tool("chromium")`: the tool (one of support.TOOLS) is on the machine,
    or the test is skipped (failed with CI=true) before it starts."""
    for mark in item.iter_markers("needs_tool"):
        tool(*mark.args, **mark.kwargs)


def server_url(backend: str) -> str | None:
    """The variable's value, unchecked (support.database_server also checks that the server answers)."""
    return os.environ.get(ENV[backend]) if backend in ENV else None


class FreshDatabase:
    """A uniquely named database on a server, created on enter and dropped on exit."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.name = f"ttm_{uuid.uuid4().hex[:12]}"
        self.url = self.base.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(self.base, isolation_level="AUTOCOMMIT", poolclass=None)

    def __enter__(self) -> str:
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {self.name}"))
        return self.url

    def __exit__(self, *exc: object) -> None:
        try:
            if self.base.get_backend_name() == "postgresql":
                with self._admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
            else:
                self._drop_mariadb()
        finally:
            self._admin.dispose()

    def _drop_mariadb(self, deadline: float = 15.0) -> None:
        """MariaDB's DROP DATABASE can fail with error 1010 (errno 39, "Directory not empty") while InnoDB
        still unlinks a dropped table's files in the background; the drop is repeated until it succeeds or
        `deadline` seconds pass. A database still there then is reported as a warning, not as a failure of
        the test that used it: its name is unique and nothing reads it again."""
        give_up = time.monotonic() + deadline
        while True:
            try:
                with self._admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {self.name}"))
                return
            except OperationalError as e:
                if getattr(e.orig, "args", (None,))[0] != 1010:
                    raise
                if time.monotonic() > give_up:
                    warnings.warn(f"database {self.name} left behind: {e.orig}", stacklevel=2)
                    return
                time.sleep(0.2)


def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
        return
    with FreshDatabase(database_server(backend)) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend (SQLite always; servers when configured)."""
    yield from fresh_url(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.sqlite3'}"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_url("postgresql", tmp_path)


def write_config(path: Path, db_url: str, key_file: Path, extra: str = "") -> Path:
    """A minimal valid config file; `extra` is appended TOML (whole sections)."""
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n[security]\nkey_file = "{key_file}"\n\n{extra}\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    return write_config(tmp_path / "config.toml", sqlite_url, tmp_path / "secret.key")
