"""Connections to a source's database: one engine per source, bounded statements, log-safe failures."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from monitor.config.load import SourceConfig
from monitor.redact import error_line, url_secrets

STATEMENT_TIMEOUT = 60.0  # seconds; a source query or write-back that takes longer is cancelled


class SourceError(Exception):
    """A source cannot be read or written back to. `message` is safe to log and store (no URL, no token)."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message[:480]
        super().__init__(f"source {source!r}: {self.message}")


# --- engines ---------------------------------------------------------------------------------------------


def open_engine(source: SourceConfig) -> Engine:
    """An engine for the source URL: no pool for SQLite, a small pre-pinged pool for servers."""
    try:
        url = make_url(source.url)
    except ArgumentError:
        raise SourceError(source.name, "url is not a valid SQLAlchemy URL") from None
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=1, max_overflow=2, pool_pre_ping=True, pool_recycle=1800)
    if (
        backend == "postgresql"
        and url.get_driver_name() in ("psycopg", "psycopg2")
        and "options" not in url.query
    ):
        kwargs["connect_args"] = {"options": f"-c statement_timeout={int(STATEMENT_TIMEOUT * 1000)}"}
    elif backend == "mysql":
        kwargs["connect_args"] = {
            "read_timeout": int(STATEMENT_TIMEOUT),
            "write_timeout": int(STATEMENT_TIMEOUT),
        }
    try:
        return create_engine(url, **kwargs)
    except Exception as exc:  # a missing driver, a bad option: reported, never the URL itself
        raise SourceError(source.name, f"cannot open the database: {safe_reason(exc, source)}") from None


class SourceEngines:
    """One engine per source, created on first use and reused; a changed URL replaces it. Thread-safe."""

    def __init__(self) -> None:
        self._engines: dict[str, tuple[str, Engine]] = {}
        self._lock = threading.Lock()

    def get(self, source: SourceConfig) -> Engine:
        with self._lock:
            known = self._engines.get(source.name)
            if known is not None and known[0] == source.url:
                return known[1]
            if known is not None:
                known[1].dispose()
            engine = open_engine(source)
            self._engines[source.name] = (source.url, engine)
            return engine

    def retain(self, names: Iterable[str]) -> None:
        """Dispose of the engines of sources that are no longer configured."""
        keep = set(names)
        with self._lock:
            for name in [n for n in self._engines if n not in keep]:
                self._engines.pop(name)[1].dispose()

    def close(self) -> None:
        self.retain(())


# --- messages --------------------------------------------------------------------------------------------


def safe_reason(exc: BaseException, source: SourceConfig, *extra_secrets: str) -> str:
    """One line describing a failure: the driver's first line, never the statement, parameters or URL."""
    try:
        password = make_url(source.url).password  # decoded, as a driver may echo it
    except ArgumentError:
        password = None
    return error_line(exc, (*url_secrets(source.url), str(password) if password else None, *extra_secrets))
