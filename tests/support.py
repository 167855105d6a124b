"""What every test shares about its surroundings: free ports, waiting on a condition, and what the suite needs
from the machine (database servers, Debian tools).

    port = free_port()
    wait_until(lambda: receiver.count() >= 2, 30, "both deliveries")
    promtool = tool("promtool")                              # its path, or see below
    url = database_server("postgresql")                      # MONITOR_TEST_POSTGRES_URL, answering

A test that needs something the machine lacks calls `missing(what)`, through `tool`, `database_server` or
directly. Outside CI that skips the test and says why (`-ra` lists it). With `CI=true` it FAILS, naming what
is missing: CI cannot go green by skipping what the suite claims to test (`.ci/run` installs and starts
everything named here, and fails when it cannot). A skip that is not about a missing thing (a notifier type
without a remote end) stays a plain `pytest.skip`.

Tests never sleep to wait for something: `wait_until` polls a condition until a deadline and fails with the
message. The deadline is a bound on a hang, not a timing claim: make it generous, and assert nothing about
how long anything took (timings belong in bench/).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "DATABASE_ENV",
    "STOP_DEADLINE",
    "TOOLS",
    "database_server",
    "free_port",
    "in_ci",
    "missing",
    "statements",
    "tool",
    "wait_until",
]

# The server backends the suite runs on besides SQLite, and the variable that points the tests at each.
DATABASE_ENV = {"postgresql": "MONITOR_TEST_POSTGRES_URL", "mariadb": "MONITOR_TEST_MARIADB_URL"}
# Every program a test runs that Python does not bring, and the Debian package it comes in (None: the test
# extras of pyproject.toml). `.ci/run` installs each of these packages; tests/test_ci_run.py holds it to this.
TOOLS: dict[str, str | None] = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "alertmanager": "prometheus-alertmanager",  # the upstream name of the same program
    "amtool": "prometheus-alertmanager",
    "chromium": "chromium",
    "systemd-analyze": "systemd",
    "git": "git",
    "runuser": "util-linux",
    "initdb": "postgresql",  # in /usr/lib/postgresql/N/bin, outside PATH
    "pg_ctl": "postgresql",
    "taplo": None,
    "pg_isready": "postgresql-client",  # tests/test_ci_run.py: .ci/run's readiness checks
    "mariadb-admin": "mariadb-client",
    "bash": "bash",  # tests/commands/test_completion.py: the completion scripts in real shells
    "zsh": "zsh",
    "fish": "fish",
}
_VENV_BIN = str(Path(sys.executable).parent)  # where the test extras put their programs


# --- ports, waiting, counting ---------------------------------------------------------------------------

# How long a daemon told to stop may take to exit before a test calls it hung: the unit's TimeoutStopSec
# (systemd/threads-token-monitor.service), after which systemd would kill it.
STOP_DEADLINE = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, message: str, every: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy, and return that; after `timeout` seconds, fail
    with "timed out after N s waiting for <message>"."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(every)  # the pause between two polls of the condition, not a wait for anything


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements every engine of this process sends while the block runs: work measured without a
    clock (a query per row shows as thousands of statements, however fast or loaded the machine)."""
    from sqlalchemy import Engine, event

    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# --- what the suite needs from the machine --------------------------------------------------------------


def in_ci() -> bool:
    """True when CI is set to something other than empty, 0, false or no (GitHub, GitLab and .ci/run set
    CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str) -> NoReturn:
    """The test cannot run because `what` is missing: skip it, or with CI=true fail it."""
    if in_ci():
        pytest.fail(f"CI=true, so this fails instead of skipping: {what}", pytrace=False)
    pytest.skip(what)


def tool(*names: str, where: Iterable[str] = ()) -> str:
    """The path of the first of `names` (each one of TOOLS) found in `where`, the test environment's bin
    folder or PATH; else missing("NAME is not installed (apt-get install PACKAGE)")."""
    unknown = [name for name in names if name not in TOOLS]
    if unknown:  # every tool is listed, so that .ci/run installs it (tests/test_ci_run.py)
        raise KeyError(f"add {unknown} to support.TOOLS")
    search = os.pathsep.join([*where, _VENV_BIN, os.environ.get("PATH", os.defpath)])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    package = TOOLS[names[0]]
    how = f"apt-get install {package}" if package else "pip install -e '.[test]'"
    missing(f"{' or '.join(names)} is not installed ({how})")


def database_server(backend: str) -> str:
    """The base URL of the `backend` server the tests may create databases on (from DATABASE_ENV), once it
    has answered a connection; else missing(...) naming the variable and, when unreachable, the error."""
    variable = DATABASE_ENV[backend]
    url = os.environ.get(variable, "").strip()
    if not url:
        missing(f"{variable} is not set (the {backend} tests need a server)")
    problem = _unreachable(url)
    if problem:
        missing(f"{backend} at {variable} is unreachable: {problem}")
    return url


@functools.cache
def _unreachable(url: str) -> str | None:
    """None when a connection to `url` succeeds (asked once per URL and process), else the error's first
    line with the URL's password hidden."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    engine = create_engine(parsed, connect_args={"connect_timeout": 5}, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        where = parsed.render_as_string(hide_password=True)
        return f"{where}: {detail[0] if detail else type(exc).__name__}"
    finally:
        engine.dispose()
    return None
