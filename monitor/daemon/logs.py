"""How the process logs: to stderr, as text or as one JSON object a line, journald-aware, never a secret.

`configure_logging(level, fmt)` routes the root logger to stderr. Under journald ($JOURNAL_STREAM names
stderr) every line starts with its syslog priority ("<4>"), which journald strips and files, so
`journalctl -p warning` works; text lines then carry no timestamp of their own. Elsewhere text lines carry
UTC ISO 8601 timestamps. JSON lines always carry `time`, `level`, `logger`, `message` and the record's extra
fields (`log.info(..., extra={"app": name})`), and `exception` with the traceback when there is one.

Both formats go through the one redacting filter (`monitor.redact.LOG_FILTER`: message, traceback and extra
fields) and escape every terminal-steering character, so neither a secret nor a peer's control sequence
reaches the log. A level given on the command line (`run --log-level`) is pinned: a reload that applies
`[log] level` from the file (`follow_config_level`) leaves it alone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping

from monitor.redact import LOG_FILTER, record_extras
from monitor.tables import printable

__all__ = [
    "FORMATS",
    "LEVELS",
    "JournalFormatter",
    "JsonFormatter",
    "UtcFormatter",
    "configure_logging",
    "follow_config_level",
    "journald_stream",
]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

# sd-daemon(3) prefixes: journald reads "<N>" at the start of each line as the syslog priority.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def journald_stream(fd: int = 2, environ: Mapping[str, str] | None = None) -> bool:
    """True when `fd` (stderr by default) is the journald stream systemd connected ($JOURNAL_STREAM)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep:
        return False
    try:
        stat = os.fstat(fd)
        return stat.st_dev == int(device) and stat.st_ino == int(inode)
    except (OSError, ValueError):
        return False


def _priority(levelno: int) -> int:
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


def utc_time(record: logging.LogRecord) -> str:
    """The record's creation time as ISO 8601 UTC with milliseconds ("2026-12-01T10:00:00.123Z")."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class JournalFormatter(logging.Formatter):
    """Formats "<N>logger: message" lines for journald; the journal adds its own timestamps."""

    def __init__(self, fmt: str = "%(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        # Every line carries the prefix, so a traceback keeps the priority of its record; a peer's words
        # (an API message) cannot steer whoever reads the journal on a terminal.
        return "\n".join(prefix + line for line in printable(super().format(record)).splitlines() or [""])


class UtcFormatter(logging.Formatter):
    """Plain-terminal format with ISO 8601 UTC timestamps ("2026-12-01T10:00:00.123Z")."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))  # no terminal-steering character from a peer's words

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the extra fields, and exception/stack when
    present. ASCII-only (every other character is a \\u escape), so nothing in it can steer a terminal;
    `journal=True` puts the syslog priority in front for journald, which strips it."""

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": utc_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            doc.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(doc, default=str, ensure_ascii=True)
        return f"<{_priority(record.levelno)}>{line}" if self.journal else line


class _Pin:
    """The level given on the command line, which outranks `[log] level` until the process ends."""

    lock = threading.Lock()
    level: str | None = None


def _numeric(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    return numeric


def configure_logging(level: str, fmt: str = "text", *, pinned: bool = False) -> None:
    """Route the root logger to stderr at `level` (a level name such as "info") in `fmt` ("text" or
    "json"), through the redacting filter. `pinned`: the level came from the command line, and
    `follow_config_level` will not change it. Raises ValueError for an unknown level or format."""
    numeric = _numeric(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (use {' or '.join(FORMATS)})")
    journal = journald_stream()
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter(journal=journal)
    else:
        formatter = JournalFormatter() if journal else UtcFormatter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(LOG_FILTER)
    with _Pin.lock:
        _Pin.level = level if pinned else None
        logging.basicConfig(level=numeric, handlers=[handler], force=True)


def follow_config_level(level: str) -> None:
    """Apply `[log] level` from a (re)loaded configuration, unless the command line pinned one."""
    numeric = _numeric(level)
    with _Pin.lock:
        if _Pin.level is None:
            logging.getLogger().setLevel(numeric)
