"""Engines and sessions for SQLite (embedded default), PostgreSQL and MariaDB."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be locked/opened."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database or another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _postgres_custom_plans(dbapi_conn: Any, _record: Any) -> None:
    """Plan every statement for its own parameters. psycopg prepares a statement it runs often, and the
    server then may switch to one generic plan that guesses a third of the table for each open range
    ("updated_at > $1", "next_check_at <= $1"): on a small table that plan reads the whole table, every
    tick. The product's statements are time windows whose answer is a few rows; what a custom plan costs
    (a fraction of a millisecond) is what psycopg2, which never prepares, paid on every statement."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    finally:
        cur.close()
        dbapi_conn.autocommit = autocommit


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout, servers get pre-ping."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError("database.url is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # The database holds encrypted tokens, labels and history: 0600 from its first byte
                # (SQLite gives its -wal and -shm files the same mode), whatever the umask.
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise DatabaseError(
                    f"database.url: cannot open the SQLite database {path}: {reason}"
                ) from None
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # LIFO: the connection used last is used next, so the daemon's few concurrent jobs keep to as few server
    # connections as they need at once. Each server process reads the catalogs again for every kind of
    # statement, trigger and foreign key it runs the first time (measured: about 1,300 rows over a
    # first sweep of 300 tokens when the pool handed out its connections in turn), and holds the caches.
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_use_lifo": True,
    }
    if parsed.get_backend_name() == "mysql":
        kwargs["pool_recycle"] = 3600
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_custom_plans)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def prefer_indexes(session: Session, *, in_order: bool = False) -> None:
    """PostgreSQL: for the rest of this transaction, read through an index wherever one serves (with
    `in_order`, the one that gives the ORDER BY). For the daemon's periodic transactions, whose answers are
    a few rows (what changed, what fell due): on a small table, or one whose statistics say "all due" after
    a bulk change, the planner prefers reading all of it, every tick, and rows read grow with the fleet.
    Nothing on the other backends (SQLite plans by index whenever it can; MariaDB reads few such tables)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    settings = "set_config('enable_seqscan', 'off', true)"
    if in_order:
        settings += ", set_config('enable_sort', 'off', true)"
    session.execute(text(f"SELECT {settings}"))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


class Database:
    """One process's engine and session factory for `url`, made on first use (a bad URL or an unwritable
    SQLite file is then an error of whoever first needs the database); `close` disposes of the pool."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url, self.pool_size = url, pool_size
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, pool_size=self.pool_size)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = make_sessionmaker(self.engine)
        return self._sessions

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
