"""Database faults under the real daemon: PostgreSQL stopped for 30 s mid-sweep, SQLite locked by a writer.

The PostgreSQL server is one this test starts itself (initdb into a temporary folder, run as the `postgres`
OS user, on a free port), so stopping it harms nothing else.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet
from receivers import HttpReceiver
from sqlalchemy import func, select
from support import free_port, missing, tool

from monitor.db.models import Notification, Token
from monitor.simulator import DAY, Simulator

from .conftest import Monitor, until, with_notifiers

SCHEDULE = {"sweep_interval": "1s", "lease": "10s", "min_check_interval": "1s", "max_check_interval": "60s"}
# The outage lasts until the daemon's sweep has failed this many times against the stopped server, counted
# in its log rather than on a clock: one sweep a second, so about 20 s, twice the 10 s lease (the shortest
# lease the config takes), so the leases taken before the outage have expired when the server comes back.
OUTAGE_SWEEPS = 20


def _tool(name: str) -> str:
    """initdb or pg_ctl of the newest PostgreSQL installed (Debian keeps them outside PATH)."""
    return tool(name, where=sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))


class PostgresServer:
    """A throw-away PostgreSQL cluster in `root`, owned and run by the `postgres` OS user."""

    def __init__(self, root: Path) -> None:
        initdb, self.pg_ctl = _tool("initdb"), _tool("pg_ctl")
        tool("runuser")
        if os.geteuid() != 0:
            missing("root (to run a throw-away PostgreSQL as the postgres user)")
        self.root, self.data, self.port = root, root / "data", free_port()
        root.mkdir()
        shutil.chown(root, "postgres", "postgres")
        self._as_postgres(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
        log = self.root / "server.log"
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        return pid_file.exists()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    # Outside tmp_path: the postgres user must be able to reach it, and pytest's folders are private.
    root = Path(f"/tmp/ttm-pg-{os.getpid()}-{free_port()}")
    server = PostgresServer(root)
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def with_notifier(fleet: Fleet, hook: HttpReceiver) -> None:
    """Append a webhook notifier (and a 1 s group_wait) to the fleet's config file."""
    with_notifiers(fleet, f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n')


def deliveries(hook: HttpReceiver) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    """(answered requests per delivery id, notifications per (alertname, token, status))."""
    ids: Counter[str] = Counter()
    alerts: Counter[tuple[str, str, str]] = Counter()
    for req in hook.requests.items:
        ids[req.headers["X-Threads-Monitor-Delivery"]] += 1
        for a in json.loads(req.body)["alerts"]:
            alerts[(a["labels"]["alertname"], a["labels"]["token"], a["status"])] += 1
    return ids, alerts


def checked_since(fleet: Fleet, since: float) -> int:
    with fleet.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Token).where(Token.last_check_at >= since)) or 0)


def failed_sweeps(daemon: Monitor) -> int:
    return daemon.output().count("job sweep failed")


def pending(fleet: Fleet) -> int:
    with fleet.ctx.sessions() as s:
        stmt = select(func.count()).select_from(Notification).where(Notification.status == "pending")
        return int(s.scalar(stmt) or 0)


@pytest.mark.slow
def test_postgres_stopped_mid_sweep_loses_and_duplicates_nothing(
    postgres: PostgresServer,
    sim: Simulator,
    hook: HttpReceiver,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
) -> None:
    fleet = fleets(postgres.url, sim, threads={"concurrency": 4}, schedule=SCHEDULE)
    with_notifier(fleet, hook)
    fleet.add_app("acme")
    soon = time.time() + DAY  # inside the critical threshold: each of these fires TokenExpiring
    early = fleet.add_tokens("acme", 5, prefix="early", expires_at=soon)
    late = fleet.add_tokens("acme", 10, prefix="late", expires_at=soon)
    healthy = fleet.add_tokens("acme", 25, prefix="healthy")
    fleet.make_due(late + healthy, at=time.time() + 3600)
    daemon = start_monitor(fleet)
    until(lambda: len(deliveries(hook)[1]) == len(early), 30, "the early tokens' alerts to be delivered")

    # The second batch is checked slowly; the server goes away while it is under way.
    sim.set_fault("latency", seconds=0.3)
    mark = time.time()
    fleet.make_due(late + healthy)
    second = late + healthy
    until(lambda: fleet.leases() > 0 and 0 < sum(fleet.calls(second).values()) < len(second) // 2, 30,
          "the sweep to be under way: tokens leased, some inspected, none stored yet")  # fmt: skip
    postgres.stop()
    until(lambda: daemon.healthz() == 503, 15, "/healthz to answer 503 while the database is down")
    before, observed = failed_sweeps(daemon), []

    def lived_through_the_outage() -> bool:
        observed.append(daemon.healthz())
        assert daemon.alive(), "the daemon died while the database was down"
        return failed_sweeps(daemon) - before >= OUTAGE_SWEEPS

    until(lived_through_the_outage, 180, f"{OUTAGE_SWEEPS} failed sweeps while the database is down")
    assert set(observed) == {503}, f"/healthz during the outage: {sorted(set(observed))}"
    postgres.start()
    until(lambda: daemon.healthz() == 200, 30, "/healthz to answer 200 once the database is back")
    until(
        lambda: checked_since(fleet, mark) == len(late + healthy),
        60,
        "every token of the sweep to be checked",
    )
    until(lambda: len(deliveries(hook)[1]) == len(early + late) and pending(fleet) == 0, 60,
          "every alert to be delivered")  # fmt: skip

    ids, alerts = deliveries(hook)
    assert set(ids.values()) == {1}, "a delivery id was sent twice"
    assert set(alerts.values()) == {1}, "an alert was notified twice"
    assert {token for _, token, _ in alerts} == set(early + late)
    assert set(fleet.snapshot_counts().values()) == {1}, "one snapshot per token: the first observation"
    assert len(fleet.snapshot_counts()) == len(early + late + healthy)
    assert all(r.last_result == "valid" for r in fleet.rows().values())
    assert daemon.alive() and daemon.stop() == 0
    assert fleet.leases() == 0
    log = daemon.output()
    assert "Traceback" not in log
    assert "job sweep failed" in log or "job alerts failed" in log, "the outage was noticed and logged"


def test_sqlite_locked_by_another_writer_is_retried_not_fatal(
    tmp_path: Path, sim: Simulator, fleets: Callable[..., Fleet], start_monitor: Callable[..., Monitor]
) -> None:
    path = tmp_path / "monitor.sqlite3"
    fleet = fleets(f"sqlite:///{path}", sim, schedule=SCHEDULE)
    fleet.add_app("acme")
    names = fleet.add_tokens("acme", 20)
    fleet.make_due(at=time.time() + 3600)
    daemon = start_monitor(fleet)
    mark = time.time()
    fleet.make_due(at=mark + 1.0)  # due while the other writer holds the lock

    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            held.set()
            release.wait(60)
            conn.execute("COMMIT")
        finally:
            conn.close()

    writer = threading.Thread(target=hold_lock)
    writer.start()
    try:
        assert held.wait(10)
        # Every write of the daemon now waits; past SQLite's 10 s busy timeout the job gives up until its
        # next run. Readers go on (WAL), so /healthz stays 200.
        until(lambda: "database is locked" in daemon.output(), 30, "a write to give up on the lock")
        assert daemon.alive() and daemon.healthz() == 200
        assert checked_since(fleet, mark) == 0
    finally:
        release.set()
        writer.join(10)
    until(
        lambda: checked_since(fleet, mark) == len(names),
        30,
        "every token to be checked once the lock is gone",
    )
    assert set(fleet.snapshot_counts().values()) == {1}
    assert daemon.alive() and daemon.stop() == 0
    assert fleet.leases() == 0
    assert "Traceback" not in daemon.output()
