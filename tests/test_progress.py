"""Progress bars: `check --all`, `tokens import` and `sources sync` draw one on a terminal, none when piped.

The CLI runs as a subprocess whose standard output and error are a pseudo-terminal (the `pty` module), read
until it closes or a deadline passes. The simulator answers each check after 0.1 s with 4 workers, so the
check of 40 tokens lasts at least a second: long enough for the bar to be redrawn with a rate and time left.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet, make_fleet

from monitor.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
TOKENS = 40
# "12/40 [00:00<00:01, 21.18 token/s]"; below one a second tqdm writes the inverse, "1.50s/ token".
BAR_WITH_RATE = re.compile(r"\| *\d+/\d+ \[\d\d:\d\d<\d\d:\d\d, +(\d+(\.\d+)? token/s|\d+(\.\d+)?s/ token)\]")


@pytest.fixture
def fleet(tmp_path: Path, sqlite_url: str) -> Iterator[Fleet]:
    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim, threads={"concurrency": 4, "retries": 0})
        fleet.add_app("acme")
        fleet.add_tokens("acme", TOKENS)
        sim.set_fault("latency", seconds=0.1)
        try:
            yield fleet
        finally:
            fleet.close()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("THREADS_TOKEN_MONITOR")} | {
        "TERM": "xterm"
    }


def on_terminal(*argv: str, deadline: float = 120.0) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal (160 columns) as stdout and stderr: (exit code, what it wrote)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *argv],
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT, env=env(),
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    end = time.monotonic() + deadline
    try:
        while (left := end - time.monotonic()) > 0:
            if not select.select([master], [], [], left)[0]:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            raise AssertionError(f"{argv}: still writing after {deadline:.0f} s")
        return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def piped(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env(), check=False,
    )  # fmt: skip


def test_check_all_draws_a_bar_with_rate_and_time_left_on_a_terminal(fleet: Fleet) -> None:
    code, text = on_terminal("--config", str(fleet.config_path), "check", "--all")
    assert code == 0, text
    assert "checking:   0%|" in text and f"0/{TOKENS} [" in text
    assert BAR_WITH_RATE.search(text), text
    assert "\r" in text and "\\x0d" not in text  # redrawn in place, not shown as escapes
    assert "acme-valid-00039" in text  # the table follows the bar


def test_check_all_draws_nothing_when_piped_or_json(fleet: Fleet) -> None:
    done = piped("--config", str(fleet.config_path), "check", "--all")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "\r" not in done.stdout and "token/s" not in done.stdout
    code, text = on_terminal("--config", str(fleet.config_path), "check", "--all", "--json")
    assert code == 0 and "token/s" not in text and "checking:" not in text
    assert text.lstrip().startswith("{")


def write_import(path: Path, rows: int) -> Path:
    lines = ["name,app,token,team"] + [
        f"imp-{i:05d},acme,THQWJ-import-{i:05d}-abcdefgh,growth" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tokens_import_draws_a_bar_on_a_terminal_only(fleet: Fleet, tmp_path: Path) -> None:
    first = write_import(tmp_path / "first.csv", 3000)
    code, text = on_terminal("--config", str(fleet.config_path), "tokens", "import", str(first))
    assert code == 0, text
    assert re.search(r"reading: +\d+%\|.*\| *\d+/3001 \[", text), text  # the header is a line too
    assert re.search(r"importing: +\d+%\|.*\| *\d+/3000 \[", text), text
    assert "token/s" in text and "imported 3000 token(s)" in text
    second = write_import(tmp_path / "second.csv", 3000).read_text(encoding="utf-8").replace("imp-", "two-")
    (tmp_path / "second.csv").write_text(second, encoding="utf-8")
    done = piped("--config", str(fleet.config_path), "tokens", "import", str(tmp_path / "second.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == f"imported 3000 token(s) from {tmp_path / 'second.csv'}\n"


def test_sources_sync_draws_a_bar_on_a_terminal_only(fleet: Fleet, tmp_path: Path) -> None:
    app_db = tmp_path / "app.sqlite3"
    with sqlite3.connect(app_db) as conn:
        conn.execute("CREATE TABLE accounts (name TEXT, token TEXT)")
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?)", [(f"src-{i}", f"THQWJ-source-{i}-xyz") for i in range(5)]
        )
    source = (
        f'\n[[sources]]\nname = "app-db"\nurl = "sqlite:///{app_db}"\napp = "acme"\n'
        'query = "SELECT name, token FROM accounts"\n'
    )
    with fleet.config_path.open("a", encoding="utf-8") as config:
        config.write(source)
    code, text = on_terminal("--config", str(fleet.config_path), "sources", "sync")
    assert code == 0, text
    assert re.search(r"syncing: +0%\|.*\| 0/1 \[", text) and "source/s" in text, text
    assert "app-db: 5 added" in text
    done = piped("--config", str(fleet.config_path), "sources", "sync")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("app-db: 0 added, 0 changed, 0 retired, 5 unchanged")
