"""Where the refresh spool lives: a writable directory chosen from the environment and the configuration."""

from __future__ import annotations

from pathlib import Path

from monitor.config.load import Config


def spool_directory(config: Config) -> Path:
    """A writable place for the spool: systemd's StateDirectory, else next to a SQLite database, else next to
    the key. Not next to the key under systemd: $CREDENTIALS_DIRECTORY is read-only there."""
    import os

    from monitor.db.session import sqlite_path

    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state)
    db = sqlite_path(config.database.url)
    return db.parent if db is not None else config.security.key_files[0].parent
