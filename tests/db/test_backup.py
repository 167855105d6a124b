"""db/backup.py: SQLite's online backup from a connection of its own is one consistent instant of a database
that another connection keeps writing (in WAL mode, with what is still in the -wal file), written with mode
0600, self-contained, never over an existing file, and never left half-written."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_until

from monitor.db.backup import BackupError, backup_sqlite

ACCOUNTS, BALANCE = 20, 1000


class Writer:
    """Moves money between accounts, one transfer a transaction, as fast as it can: the total never changes
    inside a committed state, so a backup that mixed two instants would show it. The WAL is never
    checkpointed meanwhile: the committed rows the backup must carry sit in the -wal file."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        self.conn.execute("CREATE TABLE transfers (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")
        self.conn.executemany("INSERT INTO accounts VALUES (?, ?)", [(i, BALANCE) for i in range(ACCOUNTS)])
        self.commits = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            src, dst = n % ACCOUNTS, (n * 7 + 3) % ACCOUNTS
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE accounts SET balance = balance - 1 WHERE id = ?", (src,))
            self.conn.execute("INSERT INTO transfers (amount) VALUES (1)")
            self.conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = ?", (dst,))
            self.conn.execute("COMMIT")
            self.commits = n


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "live.sqlite3")
    w.thread.start()
    try:
        yield w
    finally:
        w.stop.set()
        w.thread.join(30)
        w.conn.close()


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_each_backup_is_one_consistent_instant_of_a_database_being_written(
    writer: Writer, tmp_path: Path
) -> None:
    source = tmp_path / "live.sqlite3"
    copies = []
    for i in range(5):
        before = writer.commits
        wait_until(lambda b=before: writer.commits >= b + 50, 30, "the writer to commit more")
        at_start = writer.commits
        copies.append((backup_sqlite(source, tmp_path / f"copy-{i}.sqlite3"), at_start))
    wait_until(lambda: writer.commits >= copies[-1][1] + 50, 30, "the writer to go on after the backups")
    assert (tmp_path / "live.sqlite3-wal").stat().st_size > 0  # the data sat in the WAL, not checkpointed
    for result, at_start in copies:
        assert rows(result.path, "PRAGMA integrity_check") == [("ok",)]
        assert rows(result.path, "SELECT sum(balance), count(*) FROM accounts") == [
            (ACCOUNTS * BALANCE, ACCOUNTS)
        ]
        ((transfers,),) = rows(result.path, "SELECT count(*) FROM transfers")
        assert transfers >= at_start  # everything committed before the backup began is in it
        moved = rows(result.path, "SELECT sum(abs(balance - 1000)) FROM accounts")[0][0]
        assert moved <= 2 * transfers  # balances and transfers come from the same instant


def test_the_copy_is_private_self_contained_and_reports_what_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "m.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE tokens (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    conn.executemany("INSERT INTO tokens VALUES (?)", [(i,) for i in range(7)])
    conn.execute("INSERT INTO alembic_version VALUES ('0009')")
    conn.commit()
    conn.close()  # nobody has it open: the backup leaves no -wal or -shm of its own behind either
    old = os.umask(0)
    try:
        result = backup_sqlite(source, tmp_path / "b.sqlite3")
    finally:
        os.umask(old)
    assert (result.tokens, result.revision) == (7, "0009")
    assert result.size == result.path.stat().st_size > 0
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert rows(result.path, "PRAGMA journal_mode") == [("delete",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite3", "m.sqlite3"]  # no -wal, -shm, partial


def test_refusals_change_nothing_and_leave_nothing_behind(tmp_path: Path) -> None:
    source = tmp_path / "m.sqlite3"
    sqlite3.connect(source).close()
    existing = tmp_path / "taken"
    existing.write_text("mine", encoding="utf-8")
    with pytest.raises(BackupError, match="exists: a backup never overwrites") as refused:
        backup_sqlite(source, existing)
    assert refused.value.refused and existing.read_text(encoding="utf-8") == "mine"
    with pytest.raises(BackupError, match="does not exist") as refused:
        backup_sqlite(source, tmp_path / "no-dir" / "b.sqlite3")
    assert refused.value.refused
    with pytest.raises(BackupError, match="does not exist") as failed:
        backup_sqlite(tmp_path / "none.sqlite3", tmp_path / "b.sqlite3")
    assert not failed.value.refused and not (tmp_path / "none.sqlite3").exists()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="failed"):
        backup_sqlite(garbage, tmp_path / "b.sqlite3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.sqlite3", "m.sqlite3", "taken"]
