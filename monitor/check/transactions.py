"""The sweep's transactions: retried when the database picked them as a deadlock victim (several daemons
sharing one MariaDB or PostgreSQL database provoke that), and at READ COMMITTED on MariaDB."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.session import transaction

__all__ = ["DEADLOCK_CODES", "DEADLOCK_STATES", "in_transaction", "is_deadlock", "read_committed"]

T_ = TypeVar("T_")
log = logging.getLogger("monitor.sweep")


def read_committed(session: Session) -> None:
    """On MySQL/MariaDB, run this (just begun) transaction at READ COMMITTED.

    At InnoDB's default REPEATABLE READ, `FOR UPDATE SKIP LOCKED` over the due-index takes gap locks, and
    two daemons moving `next_check_at` and leases inside those gaps deadlock each other.
    """
    if session.get_bind().dialect.name in ("mysql", "mariadb"):
        session.connection(execution_options={"isolation_level": "READ COMMITTED"})


DEADLOCK_CODES = frozenset({1213, 1205})  # MySQL/MariaDB: deadlock victim, lock wait timeout
DEADLOCK_STATES = frozenset({"40P01", "40001"})  # PostgreSQL: deadlock detected, serialization failure


def is_deadlock(exc: BaseException) -> bool:
    """True for errors that mean "retry the transaction", not "something is broken"."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) in DEADLOCK_STATES or getattr(orig, "pgcode", None) in DEADLOCK_STATES:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return len(args) > 0 and args[0] in DEADLOCK_CODES


def in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T_]) -> T_:
    """Run `work` in one transaction; again (up to 3 times) when the database chose it as a deadlock
    victim, which several daemons sharing one MariaDB/PostgreSQL database can provoke."""
    for attempt in range(1, 4):
        try:
            with transaction(sessions) as s:
                read_committed(s)
                return work(s)
        except DBAPIError as exc:
            if attempt == 3 or not is_deadlock(exc):
                raise
            log.info("database deadlock (attempt %d of 3): retrying the transaction", attempt)
    raise AssertionError("unreachable")
