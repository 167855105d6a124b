"""Nothing a peer says reaches the terminal raw: API messages, labels and names are shown escaped."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from conftest import write_config
from sqlalchemy import update

from monitor.cli import main
from monitor.config.load import load_config
from monitor.context import Context
from monitor.daemon.logs import JournalFormatter, UtcFormatter
from monitor.db import migrate
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.registry import NewToken, add_app, add_tokens
from monitor.tables import PrintableStream, printable, render_table

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
BIDI = "\u202e"


def test_printable_escapes_every_steering_character_and_keeps_text() -> None:
    assert printable(f"ok{CLEAR}{TITLE}{BIDI}\tend\n") == "ok\\x1b[2J\\x1b]0;pwned\\x07\\u202e\tend\n"
    assert printable("plain ü text") == "plain ü text"


def test_a_table_cell_cannot_steer_the_terminal_but_our_colours_stay() -> None:
    table = render_table(["name"], [[f"evil{CLEAR}"]], colours=["red"], colour=True)
    assert CLEAR not in table and "\\x1b[2J" in table
    assert table.splitlines()[1].startswith("\x1b[31m")


def test_the_stream_wrapper_keeps_colour_and_escapes_the_rest() -> None:
    out = io.StringIO()
    PrintableStream(out).write(f"\x1b[33mwarn\x1b[0m {TITLE}")  # type: ignore[arg-type]
    assert out.getvalue() == "\x1b[33mwarn\x1b[0m \\x1b]0;pwned\\x07"


@pytest.mark.parametrize("formatter", [JournalFormatter(), UtcFormatter()])
def test_log_lines_are_escaped(formatter: logging.Formatter) -> None:
    record = logging.LogRecord("monitor.sweep", logging.WARNING, __file__, 1, "api said %s", (CLEAR,), None)
    assert CLEAR not in formatter.format(record) and "\\x1b[2J" in formatter.format(record)


def test_status_shows_hostile_labels_and_api_messages_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path / "k")
    assert main(["--config", str(config), "init"]) == 0
    ctx = Context(load_config(config))
    try:
        migrate.upgrade(ctx.engine)
        with transaction(ctx.sessions) as s:
            add_app(s, ctx.vault, "growth", "INSPECTOR-xyz-123", kind="user_token", threads_app_id="1", now=0)
            add_tokens(s, ctx.vault, [NewToken("acme", "growth", "THAAtoken123", {"team": CLEAR})], now=0)
            s.execute(
                update(Token).values(
                    last_result="error", last_error=f"api said {TITLE}{BIDI}", last_check_at=1
                )
            )
    finally:
        ctx.close()
    capsys.readouterr()
    main(["--config", str(config), "status"])
    main(["--config", str(config), "tokens", "list"])
    shown = capsys.readouterr()
    for raw in (CLEAR, TITLE, BIDI):
        assert raw not in shown.out and raw not in shown.err
