"""The three failures reproduced against the running daemon (issue 16), end to end.

1. One slow notification endpoint must not stall every channel.
2. An API that answers a refresh with the same expiry must not cause a refresh storm.
3. A source query with its columns swapped must not print, store or label token strings.
Each runs the real daemon (a child process, as systemd runs it) against the simulator and real receivers;
the autouse `evidence` fixture scans everything produced for registered secrets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers_daemon import SECRETS, Fleet, new_secret
from receivers import HttpReceiver, TricklingReceiver
from sqlalchemy import create_engine, func, select, text, update
from support import wait_until

from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator

from .conftest import Evidence, Monitor, http_get, with_notifiers

DAY = 86400.0


def alertnames(receiver: HttpReceiver) -> list[str]:
    return [a["labels"]["alertname"] for r in receiver.requests.items for a in json.loads(r.body)["alerts"]]


def test_a_trickling_receiver_delays_only_itself(
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    hook: HttpReceiver,
    evidence: Evidence,
) -> None:
    """The slow webhook accepts every notification and answers one byte a second; the healthy one must
    still get a TokenInvalid that fires while the slow one is holding its delivery."""
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("1")
    (expiring,) = fleet.add_tokens("1", 1, prefix="expiring", expires_at=time.time() + DAY)
    (revoked,) = fleet.add_tokens("1", 1, prefix="healthy", expires_at=time.time() + 50 * DAY)
    with TricklingReceiver(every=1.0) as slow:
        with_notifiers(
            fleet,
            f'[[notifiers]]\nname = "slow"\ntype = "webhook"\nurl = "{slow.url("/slow")}"\ntimeout = "3s"\n\n'
            f'[[notifiers]]\nname = "fast"\ntype = "webhook"\nurl = "{hook.url("/fast")}"\ntimeout = "3s"\n',
        )
        monitor = start_monitor(fleet)
        wait_until(lambda: "TokenExpiring" in alertnames(hook), 60, "TokenExpiring at the healthy receiver")
        slow.wait_for(1, timeout=30)  # the slow one has the same message and is trickling its answer

        sim.update_token(fleet.tokens[revoked], state="revoked")
        with transaction(fleet.ctx.sessions) as s:
            s.execute(update(Token).where(Token.name == revoked).values(next_check_at=0))
        wait_until(lambda: "TokenInvalid" in alertnames(hook), 30, "TokenInvalid at the healthy receiver")
        assert monitor.alive()
    evidence.add("daemon output", monitor.output())


def test_a_refresh_the_api_does_not_reflect_is_a_failure_not_a_storm(
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    hook: HttpReceiver,
    evidence: Evidence,
) -> None:
    """The API answers the refresh, but debug_token keeps showing the old expiry for the new string."""
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("1")
    now = time.time()
    (name,) = fleet.add_tokens("1", 1, prefix="lagging", issued_at=now - 30 * DAY, expires_at=now + 5 * DAY)
    sim.update_token(fleet.tokens[name], refresh_lags=True)
    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(auto_refresh=True))
    with_notifiers(fleet, f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/h")}"\n')
    monitor = start_monitor(fleet)

    wait_until(lambda: "TokenRefreshFailed" in alertnames(hook), 60, "TokenRefreshFailed at the receiver")
    sweeps = json.loads(http_get(monitor.base + "/healthz")[1])["sweeps"]
    # Several more sweeps and refresh ticks (1 s apart) run; none may refresh the token again.
    wait_until(
        lambda: json.loads(http_get(monitor.base + "/healthz")[1])["sweeps"] >= sweeps + 5,
        60,
        "five more sweeps",
    )
    assert sim.calls(endpoint="refresh_access_token") == 1
    assert monitor.alive()
    evidence.add("daemon output", monitor.output())


def test_swapped_source_columns_never_print_store_or_label_a_token(
    tmp_path: Path,
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    hook: HttpReceiver,
    evidence: Evidence,
) -> None:
    """`SELECT access_token AS name, account_id AS token`: refused by row number, nothing shown anywhere."""
    app_db = tmp_path / "app.sqlite3"
    engine = create_engine(f"sqlite:///{app_db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE threads_accounts (account_id INTEGER, access_token TEXT, team TEXT)"))
        for i in range(3):
            conn.execute(
                text("INSERT INTO threads_accounts VALUES (:i, :t, 'growth')"),
                {"i": 1000 + i, "t": new_secret("src")},
            )
        # A short token too: shaped like nothing in particular, it must not become a label either.
        conn.execute(text("INSERT INTO threads_accounts VALUES (7, 'THAAshort', 'growth')"))
    engine.dispose()
    SECRETS.add("THAAshort")
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("growth")
    with_notifiers(fleet, f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/h")}"\n')
    with fleet.config_path.open("a", encoding="utf-8") as fh:
        fh.write(
            f'\n[[sources]]\nname = "app-db"\nurl = "sqlite:///{app_db}"\napp = "growth"\n'
            'query = "SELECT access_token AS name, account_id AS token, team FROM threads_accounts"\n'
            'sync_interval = "10s"\n'
        )
    cli = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(fleet.config_path), "sources", "sync"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    evidence.add("sources sync output", cli.stdout + cli.stderr)
    assert cli.returncode != 0 and "row 1" in cli.stdout + cli.stderr

    monitor = start_monitor(fleet)
    wait_until(lambda: "SourceFailing" in alertnames(hook), 60, "SourceFailing at the receiver")
    metrics = monitor.metrics()
    evidence.add("metrics", metrics)
    evidence.add("daemon output", monitor.output())
    assert "THAAshort" not in metrics
    with fleet.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Token)) == 0, "a failing source changes nothing"


def test_an_import_file_with_swapped_columns_names_the_line_and_shows_no_token(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    evidence: Evidence,
) -> None:
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("growth")
    token = new_secret("imp")
    path = tmp_path_factory.mktemp("input") / "tokens.csv"  # the input holds the token: not scanned
    path.write_text(f"name,app,token\n{token},growth,123456789\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(fleet.config_path), "tokens", "import", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    evidence.add("tokens import output", done.stdout + done.stderr)
    assert done.returncode == 2 and "line 2" in done.stderr
    assert token[:12] not in done.stdout + done.stderr
