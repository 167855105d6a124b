"""The advisory lock that keeps a SQLite database file to one daemon."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from monitor.db.session import DatabaseError

__all__ = ["SqliteLock"]


class SqliteLock:
    """An exclusive advisory lock next to a SQLite file: one daemon per file.

    SQLite cannot share leases between processes safely (no SKIP LOCKED), so a second daemon on the same
    file is refused instead of silently doubling the API calls.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DatabaseError(f"database.url: cannot create the lock file {self.path}: {reason}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseError(
                f"another threads-token-monitor daemon is already running on {self.path.with_suffix('')}; "
                "SQLite supports one daemon per database file (use PostgreSQL to run several)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
