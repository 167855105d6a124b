"""Every statement an idle daemon runs on its timers reads a handful of rows, whatever the fleet size and
however old PostgreSQL's statistics are.

The fleet here is 3,000 tokens whose statistics were taken while every token was unchecked (a bulk import
analyses the table) and which were then all checked, as after the first sweep of a fresh import, with
autovacuum not yet round, and they all expire in 8 days: inside the refresh window, though none opted in to
automatic refresh (as most of a fleet does not). That is when the planner's choices went wrong (a refresh
claim that followed `is_valid` or `expires_at` and read every such token on every tick): each statement the
daemon's jobs ran is replayed under EXPLAIN ANALYZE and the rows its scans read are counted. The scrape is
not part of it: its fleet counts are read per scrape that follows a change (bench/RESULTS.md), not per tick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from monitor.daemon.lifecycle import Daemon
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator
from tests.helpers_daemon import make_fleet, wait_until

FLEET = 3000
MOST_ROWS = 100  # per statement; a statement that read the fleet would read 3,000 or more
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
# A statement of each timer job, recognised by a fragment of its text.
JOBS = {
    "sweep claim": "FOR UPDATE SKIP LOCKED",
    "refresh claim": "auto_refresh IS true",
    "alert evaluation": "UNION",
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans of an EXPLAIN (ANALYZE, FORMAT JSON) plan read, filtered-out rows included."""
    total = 0
    if plan["Node Type"] in SCANS:
        per_loop = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        per_loop += plan.get("Rows Removed by Index Recheck", 0)
        total += per_loop * plan["Actual Loops"]
    return total + sum(rows_read(child) for child in plan.get("Plans", []))


def explain(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        doc = cur.fetchone()[0]
        raw.rollback()  # an explained UPDATE ran: undo it
    finally:
        raw.close()
    return (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]


def test_an_idle_daemon_reads_a_handful_of_rows_per_statement_under_stale_statistics(
    tmp_path: Path, postgres_url: str, sim: Simulator
) -> None:
    fleet = make_fleet(
        tmp_path,
        postgres_url,
        sim,
        schedule={"sweep_interval": "1s"},
        refresh={"enabled": True},
        metrics={"per_token": "problems"},
    )
    now = time.time()
    fleet.add_app("a")
    fleet.add_tokens("a", FLEET)  # analysed by the import: every token unchecked
    checked = update(Token).values(
        is_valid=True,
        last_result="valid",
        expires_at=now + 8 * 86400,  # inside the refresh window (10 d), outside the warning (7 d)
        data_access_expires_at=now + 60 * 86400,
        issued_at=now - 30 * 86400,
        last_check_at=now - 7200,  # checked, but not within the budget preload's last hour
        next_check_at=now + 6 * 3600,
    )
    with transaction(fleet.ctx.sessions) as s:
        s.execute(checked)

    seen: dict[str, Any] = {}

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if "tokens" in statement and not statement.lstrip().upper().startswith(("INSERT", "EXPLAIN")):
            first = many and isinstance(parameters, (list, tuple)) and parameters
            seen.setdefault(statement, parameters[0] if first else parameters)

    event.listen(Engine, "before_cursor_execute", capture)
    daemon = Daemon(fleet.config)
    try:
        daemon.start()
        wait_until(
            lambda: all(any(marker in s for s in list(seen)) for marker in JOBS.values()),
            30,
            f"a statement of each timer job ({', '.join(JOBS)})",
        )
    finally:
        daemon.stop()
        event.remove(Engine, "before_cursor_execute", capture)
    try:
        read = {
            statement: rows_read(explain(fleet.ctx.engine, statement, p)) for statement, p in seen.items()
        }
    finally:
        fleet.close()
    heavy = {" ".join(s.split())[:300]: n for s, n in read.items() if n > MOST_ROWS}
    assert not heavy, f"statements reading more than {MOST_ROWS} rows of a {FLEET}-token fleet: {heavy}"
    assert len(read) >= len(JOBS)
