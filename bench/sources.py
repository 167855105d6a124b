"""Sources benchmark: syncing N rows from an application database into the registry.

Three syncs of one `[[sources]]` entry, each timed end to end (`sync_source`: query, validation, diff,
writes):
  first      every row is new (every string encrypted, bulk insert)
  unchanged  nothing changed (fingerprints compared, nothing encrypted or written)
  churn      1% changed strings, 1% changed labels, 1% retired, 1% new
The application database and the monitor's database are separate databases on the same backend.

    .venv/bin/python bench/sources.py                           # 50,000 rows on SQLite
    .venv/bin/python bench/sources.py --rows 50000 --postgres postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import token_string  # noqa: E402
from monitor.config.load import Config, DatabaseConfig, SecurityConfig, SourceConfig  # noqa: E402
from monitor.context import Context  # noqa: E402
from monitor.crypto import create_key_file  # noqa: E402
from monitor.db import migrate  # noqa: E402
from monitor.db.session import transaction  # noqa: E402
from monitor.registry import add_app  # noqa: E402
from monitor.sources.job import SourceEngines, sync_source  # noqa: E402

QUERY = "SELECT account_id AS name, access_token AS token, team, plan FROM threads_accounts WHERE active"
TARGET_SECONDS = 10.0  # "seconds, not minutes" for 50,000 rows


@contextmanager
def databases(postgres: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(monitor URL, application URL): two SQLite files, or two fresh PostgreSQL databases."""
    if postgres is None:
        yield f"sqlite:///{tmp / 'monitor.sqlite3'}", f"sqlite:///{tmp / 'app.sqlite3'}"
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import FreshDatabase

    with FreshDatabase(postgres) as monitor_url, FreshDatabase(postgres) as app_url:
        yield monitor_url, app_url


def fill(engine: Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE threads_accounts (account_id INTEGER PRIMARY KEY, access_token "
                "VARCHAR(500) NOT NULL, team VARCHAR(50), plan VARCHAR(20), active BOOLEAN NOT NULL)"
            )
        )
        batch = [
            {
                "i": i,
                "t": token_string(i) + "x" * 140,
                "team": f"team-{i % 40}",
                "plan": "pro" if i % 3 else None,
                "a": True,
            }
            for i in range(rows)
        ]
        conn.execute(text("INSERT INTO threads_accounts VALUES (:i, :t, :team, :plan, :a)"), batch)


def churn(engine: Engine, rows: int) -> None:
    step = max(1, rows // 100)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE threads_accounts SET access_token = access_token || 'y' WHERE account_id < :n"),
            {"n": step},
        )
        conn.execute(
            text("UPDATE threads_accounts SET team = 'moved' WHERE account_id >= :a AND account_id < :b"),
            {"a": step, "b": 2 * step},
        )
        conn.execute(text("DELETE FROM threads_accounts WHERE account_id >= :n"), {"n": rows - step})
        conn.execute(
            text("INSERT INTO threads_accounts VALUES (:i, :t, 'new', NULL, :a)"),
            [{"i": rows + i, "t": token_string(rows + i), "a": True} for i in range(step)],
        )


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of this process (the CPU figure is steadier on a busy machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - started, time.process_time() - cpu, result


def run(rows: int, postgres: str | None) -> list[tuple[str, float, float, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="ttm-bench-sources") as tmp,
        databases(postgres, Path(tmp)) as urls,
    ):
        monitor_url, app_url = urls
        key = Path(tmp) / "secret.key"
        create_key_file(key)
        source = SourceConfig(name="app-db", url=app_url, query=QUERY, app="growth")
        ctx = Context(
            Config(
                database=DatabaseConfig(url=monitor_url), security=SecurityConfig((key,)), sources=(source,)
            )
        )
        migrate.upgrade(ctx.engine)
        with transaction(ctx.sessions) as s:
            add_app(
                s, ctx.vault, "growth", "BENCH-INSPECTOR", kind="user_token", threads_app_id=None, now=1.0
            )
        app = create_engine(app_url)
        fill(app, rows)
        engines = SourceEngines()
        out: list[tuple[str, float, float, str]] = []
        now = time.time()
        for label, prepare in (("first", None), ("unchanged", None), ("churn", churn)):
            if prepare is not None:
                prepare(app, rows)
            now += 300
            seconds, cpu, report = timed(
                partial(sync_source, ctx.sessions, ctx.vault, source, now, engines=engines)
            )
            summary = (
                f"+{len(report.added)} ~{len(report.changed)} -{len(report.retired)} ={report.unchanged}"
            )
            out.append((label, seconds, cpu, summary))
        engines.close()
        app.dispose()
        ctx.close()
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--postgres", metavar="URL", help="server URL to create two fresh databases on")
    args = parser.parse_args(argv)
    backend = "postgresql" if args.postgres else "sqlite"
    results = run(args.rows, args.postgres)
    print(f"{args.rows} rows, {backend}")
    print(
        f"{'sync':<10} {'wall s':>7} {'cpu s':>6} {'rows/s':>8}  report (+added ~changed -retired =unchanged)"
    )
    for label, seconds, cpu, summary in results:
        print(f"{label:<10} {seconds:>7.2f} {cpu:>6.2f} {args.rows / seconds:>8.0f}  {summary}")
    worst = max(seconds for _, seconds, _, _ in results)
    verdict = "PASS" if worst <= TARGET_SECONDS else "FAIL"
    print(f"{verdict}: slowest sync {worst:.2f} s (target <= {TARGET_SECONDS:.0f} s for 50,000 rows)")
    from bench.record import Record

    rec = Record("sources", quick=args.rows < 50_000)
    rec.row(
        f"sources sync, {args.rows:,} rows, {backend} (first / unchanged / 1% churn)",
        measured=" / ".join(f"{seconds:.2f}" for _, seconds, _, _ in results) + " s",
        target=f"<= {TARGET_SECONDS:.0f} s each",
        ok=verdict == "PASS",
        raw={label: {"wall": w, "cpu": c, "report": rep} for label, w, c, rep in results},
    )
    rec.save()
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
