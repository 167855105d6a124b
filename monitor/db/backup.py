"""A consistent copy of a SQLite registry, taken while a daemon runs and writes.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database from a connection of its own:
in one step, inside one read transaction, so the copy is the database as it was at one instant, whatever the
daemon commits meanwhile (the database is in WAL mode: the daemon's writes go on while the copy reads). The
copy is written next to the target under a temporary name with mode 0600, switched to a self-contained
rollback journal (no -wal file to carry along), checked (`PRAGMA quick_check`), and only then linked to the
target name, which must not exist: a backup never overwrites anything, and a half-written one never carries
the target's name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["BackupError", "BackupResult", "backup_sqlite"]

_EXISTS = "{target} exists: a backup never overwrites a file (choose a new name)"
BUSY_TIMEOUT = 30.0  # seconds to wait for a lock (a checkpoint) before giving up


class BackupError(Exception):
    """The backup cannot be taken. `refused`: the request itself is wrong (the target exists, its directory
    does not), as opposed to a failure (no database, a write error, a copy that failed its check)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes
    tokens: int
    revision: str | None  # the Alembic revision of the copy's schema


def backup_sqlite(source: Path, target: Path) -> BackupResult:
    """Copy the SQLite database `source` to the new file `target` (mode 0600), consistently, while other
    connections read and write it. Raises BackupError; leaves no partial file behind."""
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    if os.path.lexists(target):
        raise BackupError(_EXISTS.format(target=target), refused=True)
    if not target.parent.is_dir():
        raise BackupError(f"the directory {target.parent} does not exist", refused=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        result = _copy(source, partial)
        _publish(partial, target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or type(exc).__name__}") from None
    except sqlite3.Error as exc:
        raise BackupError(f"the backup of {source} failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(target, target.stat().st_size, result[0], result[1])


def _copy(source: Path, partial: Path) -> tuple[int, str | None]:
    # mode=rw, not ro: it never creates a registry where none was, and it writes nothing to this one (the
    # backup only reads), but as the last connection it removes the -wal and -shm files it had to open, as
    # SQLite does on close; a read-only connection would leave them behind. Run as root, SQLite gives such
    # files the database's owner, so the service can still open them.
    uri = f"file:{quote(str(source.absolute()))}?mode=rw"
    with (
        contextlib.closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as src,
        contextlib.closing(sqlite3.connect(partial, timeout=BUSY_TIMEOUT)) as dst,
    ):
        src.backup(dst)  # pages=-1: the whole database in one step, one consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"the copy of {source} failed its integrity check: {verdict}")
        return _count(dst, "SELECT count(*) FROM tokens"), _revision(dst)


def _count(conn: sqlite3.Connection, sql: str) -> int:
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # an empty or unmigrated registry has no table yet
        return 0


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def _publish(partial: Path, target: Path) -> None:
    """Give the finished copy its name, unless something took the name meanwhile (never overwrite)."""
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(partial, target)  # fails with FileExistsError instead of replacing
    except FileExistsError:
        raise BackupError(_EXISTS.format(target=target), refused=True) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV) or os.path.lexists(target):
            raise
        os.rename(partial, target)  # a file system without hard links: checked just above, not atomically
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
