"""`backup PATH`: a consistent copy of the SQLite registry while the daemon runs, and the reminder that the
key file is needed to read it; PostgreSQL and MariaDB registries are backed up with their own tools."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.commands.helptext import PROG, examples
from monitor.context import Context
from monitor.db.backup import BackupError, backup_sqlite
from monitor.db.session import sqlite_path
from monitor.tables import print_json

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
GUIDE = "docs/backup.md"

RESTORE = f"""\
restore (SQLite):
  1. stop the daemon (systemctl stop threads-token-monitor)
  2. remove the database's -wal and -shm files, copy the backup over the database file, give it to the
     service user with mode 0600
  3. put the key file the backup was made with where [security] key_file points
  4. {PROG} migrate (a backup of an older version is upgraded), then start the daemon
PostgreSQL: pg_dump / pg_restore; MariaDB: mariadb-dump / mariadb ({GUIDE})."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help="copy the SQLite registry consistently, even while the daemon runs",
        description=(
            "Write a consistent copy of the SQLite registry to PATH (a new file, mode 0600) with SQLite's\n"
            "online backup, from a connection of its own: the daemon may keep running and writing. The\n"
            "copy holds the tokens encrypted: it is useless without the key file, which this command\n"
            "names; keep a copy of the key apart from the backups. PATH must not exist. A registry on\n"
            "PostgreSQL or MariaDB is refused (exit 2): back it up with pg_dump or mariadb-dump.\n\n"
            + RESTORE
        ),
        epilog=examples(
            'backup "/var/backups/threads-token-monitor/monitor-$(date +%F).sqlite3"',
            "--config /etc/threads-token-monitor/config.toml backup ./monitor.sqlite3 --json",
        ),
    )
    p.add_argument("path", metavar="PATH", help="the new file to write")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_backup)


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    url = ctx.config.database.url
    source = sqlite_path(url)
    if source is None:
        return _refuse(_elsewhere(url))
    try:
        result = backup_sqlite(source, Path(args.path).expanduser().absolute())
    except BackupError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.refused else EXIT_FAILURE
    keys = [str(path) for path in ctx.config.security.key_files]
    if args.json:
        print_json(
            {
                "path": str(result.path),
                "bytes": result.size,
                "tokens": result.tokens,
                "revision": result.revision,
                "key_files": keys,
            }
        )
        return EXIT_OK
    print(
        f"backed up {source} to {result.path} (mode 0600): {result.tokens} token(s), schema "
        f"{result.revision or 'not migrated'}, {result.size} bytes"
    )
    print(f"the key file is needed too: {key_reminder(keys)}")
    print(f"to restore it: `{PROG} backup --help` ({GUIDE})")
    return EXIT_OK


def key_reminder(keys: list[str]) -> str:
    """Where the key lives and why it matters, naming the source of a systemd credential."""
    text = f"{', '.join(keys)} (without it the tokens in the backup cannot be decrypted); keep a copy "
    text += "apart from the backups"
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and any(Path(k).is_relative_to(credentials) for k in keys):
        text += ": this is a systemd credential, back up the file LoadCredential= names"
    return text


def _elsewhere(url: str) -> str:
    parsed = make_url(url)
    name = shlex.quote(parsed.database or "DBNAME")
    if parsed.get_backend_name() == "postgresql":
        return (
            "backup copies a SQLite registry; this one is on PostgreSQL: use its own tool, e.g.\n"
            f"  pg_dump --format=custom --file=monitor.dump {name}\n"
            f"  (restore: pg_restore --clean --if-exists --dbname={name} monitor.dump,"
            f" then `{PROG} migrate`)\n"
            f"and keep the key file too ({GUIDE})"
        )
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        return (
            "backup copies a SQLite registry; this one is on MariaDB/MySQL: use its own tool, e.g.\n"
            f"  mariadb-dump --single-transaction {name} > monitor.sql\n"
            f"  (restore: mariadb {name} < monitor.sql, then `{PROG} migrate`)\n"
            f"and keep the key file too ({GUIDE})"
        )
    return "backup copies a SQLite registry file; this database is in memory or not a SQLite file"


def _refuse(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE
