"""The daemon's logging: journald detection, the text and JSON formats, the redacting filter on both, a level
pinned by `run --log-level` across reloads, and a real daemon logging JSON at DEBUG without a secret."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import DaemonProcess, leaked, make_fleet
from support import wait_until

from monitor.daemon.logs import (
    JournalFormatter,
    JsonFormatter,
    UtcFormatter,
    configure_logging,
    follow_config_level,
    journald_stream,
)
from monitor.redact import protect_logs
from monitor.simulator import Simulator

SECRET = "THAAlogsSECRET0123456789abcdef"
CLEAR = "\x1b[2J"


def test_journald_stream_matches_dev_and_inode(tmp_path: Path) -> None:
    stream = tmp_path / "stream"
    stream.write_text("")
    other = tmp_path / "other"
    other.write_text("")
    with stream.open("w") as handle:
        fd = handle.fileno()
        st = os.fstat(fd)
        assert journald_stream(fd, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        other_st = other.stat()
        assert not journald_stream(fd, {"JOURNAL_STREAM": f"{other_st.st_dev}:{other_st.st_ino}"})
        assert not journald_stream(fd, {"JOURNAL_STREAM": "garbage"})
        assert not journald_stream(fd, {})


def _record(level: int, message: str, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("monitor.test", level, __file__, 1, message, None, exc_info)
    record.created = 1_796_119_200.25  # 2026-12-01T10:00:00.250Z
    record.msecs = 250.0
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    ("level", "prefix"),
    [
        (logging.CRITICAL, "<2>"),
        (logging.ERROR, "<3>"),
        (logging.WARNING, "<4>"),
        (logging.INFO, "<6>"),
        (logging.DEBUG, "<7>"),
    ],
)
def test_journal_formatter_priorities(level: int, prefix: str) -> None:
    line = JournalFormatter().format(_record(level, "token x expires"))
    assert line == f"{prefix}monitor.test: token x expires"
    assert JsonFormatter(journal=True).format(_record(level, "x")).startswith(prefix + "{")


def test_journal_formatter_prefixes_every_traceback_line() -> None:
    lines = JournalFormatter().format(_record(logging.ERROR, "check failed", exc=True)).split("\n")

    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>RuntimeError: boom"


def test_utc_formatter_uses_iso_utc() -> None:
    text = UtcFormatter().format(_record(logging.INFO, "started"))
    assert text == "2026-12-01T10:00:00.250Z INFO monitor.test: started"


def test_json_formatter_writes_one_object_with_the_fields_and_extras() -> None:
    line = JsonFormatter().format(_record(logging.WARNING, "app growth is throttled", app="growth", pause=60))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-12-01T10:00:00.250Z",
        "level": "warning",
        "logger": "monitor.test",
        "message": "app growth is throttled",
        "app": "growth",
        "pause": 60,
    }


def test_json_formatter_keeps_a_traceback_on_one_line_and_escapes_steering_characters() -> None:
    line = JsonFormatter().format(_record(logging.ERROR, f"api said {CLEAR}\u202e", exc=True))
    assert "\n" not in line and CLEAR not in line and "\u202e" not in line and line.isascii()
    doc = json.loads(line)
    assert doc["message"] == f"api said {CLEAR}\u202e"  # the words survive, escaped as JSON
    assert doc["exception"].splitlines()[-1] == "RuntimeError: boom"


class Stderr:
    """Standard error as a file, for configure_logging. `redirect()` in the test body: pytest's capture
    replaces sys.stderr between the fixtures and the test."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self._monkeypatch = path, monkeypatch
        self.stream = path.open("w", encoding="utf-8")

    def redirect(self) -> None:
        self._monkeypatch.setattr(sys, "stderr", self.stream)

    def text(self) -> str:
        self.stream.flush()
        return self.path.read_text(encoding="utf-8")


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stderr]:
    """The root logger, the log filter and the pinned level are restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    captured = Stderr(tmp_path / "stderr", monkeypatch)
    try:
        yield captured
    finally:
        configure_logging("warning")  # unpins the level
        protect_logs([])
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        captured.stream.close()


def test_configure_logging_picks_formatter(monkeypatch: pytest.MonkeyPatch, stderr: Stderr) -> None:
    stderr.redirect()
    root = logging.getLogger()
    st = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    configure_logging("debug")
    assert root.level == logging.DEBUG
    assert isinstance(root.handlers[0].formatter, JournalFormatter)
    configure_logging("info", "json")
    formatter = root.handlers[0].formatter
    assert isinstance(formatter, JsonFormatter) and formatter.journal

    monkeypatch.delenv("JOURNAL_STREAM")
    configure_logging("WARNING")
    assert root.level == logging.WARNING
    assert type(root.handlers[0].formatter) is UtcFormatter
    configure_logging("info", "json")
    assert not root.handlers[0].formatter.journal  # type: ignore[union-attr]

    with pytest.raises(ValueError, match="loud"):
        configure_logging("loud")
    with pytest.raises(ValueError, match="xml"):
        configure_logging("info", "xml")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_in_either_format_message_traceback_or_extra_field(stderr: Stderr, fmt: str) -> None:
    stderr.redirect()
    configure_logging("debug", fmt)
    protect_logs([SECRET])
    log = logging.getLogger("monitor.test")
    log.info("stored %s", SECRET, extra={"token": SECRET, "detail": {"echo": SECRET}, "count": 3})
    try:
        raise RuntimeError(f"the API echoed {SECRET}")
    except RuntimeError:
        log.exception("check failed")
    text = stderr.text()
    assert "stored [redacted]" in text and "RuntimeError: the API echoed [redacted]" in text.replace(
        "\\n", "\n"
    )
    assert SECRET not in text and SECRET[:12] not in text
    if fmt == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert (first["token"], first["count"]) == ("[redacted]", 3)
        assert SECRET not in first["detail"]
        assert second["level"] == "error" and "exception" in second


def test_a_pinned_level_outlasts_a_reload_and_an_unpinned_one_follows_it(stderr: Stderr) -> None:
    stderr.redirect()
    root = logging.getLogger()
    configure_logging("debug", pinned=True)
    follow_config_level("error")  # what a reload does with [log] level
    assert root.level == logging.DEBUG
    configure_logging("info")
    follow_config_level("error")
    assert root.level == logging.ERROR


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def test_the_daemon_logs_json_lines_at_debug_without_a_secret(
    tmp_path: Path, sqlite_url: str, sim: Simulator
) -> None:
    """`run --log-level debug --log-format json` over `[log] level = "error"`: every line of the daemon's
    standard error is one JSON object, DEBUG lines included, and no token or inspector string shows."""
    fleet = make_fleet(tmp_path, sqlite_url, sim, log={"level": "error"})
    try:
        fleet.add_app("ok")
        fleet.add_tokens("ok", 3)
        fleet.add_tokens("ok", 2, state="revoked")
        args = ("run", "--log-level", "debug", "--log-format", "json")
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log", args) as daemon:
            wait_until(lambda: "sweep: inspected" in daemon.output(), 30, "a sweep")
        lines = [json.loads(line) for line in daemon.output().splitlines()]
        assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
        assert {"debug", "info"} <= {line["level"] for line in lines}
        assert any(line["message"] == "stopped" for line in lines)
        assert not leaked(daemon.output())
    finally:
        fleet.close()
