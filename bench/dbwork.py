"""Database work per check: a real daemon's full sweep (and then its idle ticks) at several fleet sizes.

For each size a fresh database gets N due tokens, a simulator process answers at zero latency, and a real
`Daemon` (every job scheduled: sweep, alerts, delivery, refresh, sources) starts with nothing due; once its
start-up was counted (new connections read the catalogs, the first full evaluation: once per daemon, reported
apart) every token falls due and it runs until every token was checked once (the first sweep: caches and
statistics still cold, no token observed before), then every token is made due again
and the same daemon sweeps them a second time (the steady state the target is about), then it idles for
`--idle` seconds with nothing due. Reported per check (sweeps) and per second (idle):
- PostgreSQL: rows read (`pg_stat_database.tup_returned + tup_fetched` delta) and commits (`xact_commit`);
- every backend: statements and transactions counted by SQLAlchemy events in the daemon's engine;
- the statements whose plan reads a whole table (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).

`--trouble` (default 0.1) is the fraction of the fleet the simulator reports 5 days from expiry, inside the
warning: their TokenExpiring alerts fire during the first sweep and stay firing, as in a fleet where some
tokens always near their end; what evaluating them costs must follow the changes, not their number.

Target: rows read per check flat across fleet sizes (within 2x from 1,000 to 100,000 tokens) and under 20.

    .venv/bin/python -m bench.dbwork --db postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.dbwork --db sqlite --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from bench.common import database, fill_registry, simulator
from bench.record import Record
from monitor.config.load import load_config
from monitor.daemon.lifecycle import Daemon

# PostgreSQL backends send their counters at most once a second, and an idle one within 10 s
# (PGSTAT_IDLE_INTERVAL): wait that long at every window's edge so no window gets another's rows.
FLUSH = 11.0
TARGET_ROWS = 20.0
TARGET_FLATNESS = 2.0
SCAN = {
    "postgresql": re.compile(r"Seq Scan on (tokens|snapshots)\b"),
    "sqlite": re.compile(r"\bSCAN (tokens|snapshots)\b(?! USING)"),
}  # the tables that grow with the fleet (the others hold a few rows per app, alert or notification)


@dataclass
class Counter:
    """Statements and transactions run through one engine, and one example of each distinct statement."""

    statements: int = 0
    commits: int = 0
    connects: int = 0  # new database connections (each reads the catalogs on PostgreSQL)
    seen: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # executions per distinct statement
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "connect", self._connect)

    def _connect(self, _dbapi: Any, _record: Any) -> None:
        with self.lock:
            self.connects += 1

    def _statement(self, _conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        with self.lock:
            self.statements += 1
            self.counts[statement] = self.counts.get(statement, 0) + 1
            if statement not in self.seen:
                # executemany passes a sequence of parameter sets (a dict for insertmanyvalues' batches)
                first = many and isinstance(params, (list, tuple)) and params
                self.seen[statement] = params[0] if first else params

    def _commit(self, _conn: Any) -> None:
        with self.lock:
            self.commits += 1

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.statements, self.commits


@contextmanager
def _server(url: str) -> Iterator[tuple[Connection, str]]:
    """A connection to the server's `postgres` database (what it does there adds nothing to the bench
    database's counters), and the bench database's name."""
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn, str(target.database)
    finally:
        engine.dispose()


def pg_stats(url: str) -> dict[str, int]:
    """The bench database's counters, read from another database of the server so that reading them adds
    nothing to them (backends flush their counts when idle, at most every second, or on exit)."""
    with _server(url) as (conn, name):
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = conn.execute(
            text("SELECT tup_returned, tup_fetched, xact_commit FROM pg_stat_database WHERE datname = :d"),
            {"d": name},
        ).one()
    return {"rows": int(row[0]) + int(row[1]), "commits": int(row[2])}


def read_by_relation(url: str) -> dict[str, int]:
    """Rows read so far per table (sequential scans, heap fetches) and per index (entries read), by name,
    the system catalogs' included (a server process reads them again for each kind of statement it runs
    the first time). Reading these statistics reads pg_class and pg_index: their seq rows are this
    function's own."""
    engine = create_engine(make_url(url))
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        tables = conn.execute(
            text("SELECT relname, seq_tup_read, idx_tup_fetch FROM pg_stat_all_tables")
        ).all()
        indexes = conn.execute(
            text("SELECT relname, indexrelname, idx_tup_read FROM pg_stat_all_indexes")
        ).all()
    engine.dispose()
    out = {f"{t} (seq)": int(n or 0) for t, n, _ in tables}
    out.update({f"{t} (heap fetches)": int(n or 0) for t, _, n in tables})
    out.update({f"{t}.{i}": int(n or 0) for t, i, n in indexes})
    return out


def where_rows_go(before: dict[str, int], after: dict[str, int], checks: int) -> list[str]:
    """Rows read per check in a window, by table scan and index, largest first."""
    delta = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)
    return [f"{n / max(1, checks):8.2f}  {k}" for n, k in delta if n > 0][:16]


def table_reads(url: str) -> list[str]:
    """Rows read per table since the database was made (sequential scans, index fetches), largest first."""
    engine = create_engine(make_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, seq_tup_read, coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
                " ORDER BY seq_tup_read + coalesce(idx_tup_fetch, 0) DESC"
            )
        ).all()
    engine.dispose()
    return [f"{name} seq {seq} idx {idx}" for name, seq, idx in rows if seq or idx]


def analyze(url: str, vacuum: bool = False) -> None:
    """Planner statistics (and with `vacuum`, dead rows cleared), as a running database has them."""
    engine = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        vacuum_too = vacuum and conn.dialect.name == "postgresql"  # SQLite has no dead rows to clear
        conn.execute(text("VACUUM ANALYZE" if vacuum_too else "ANALYZE"))
    engine.dispose()


def full_scans(engine: Engine, seen: dict[str, Any]) -> list[str]:
    """The statements whose plan reads a whole table, as `table: statement` lines."""
    dialect = engine.dialect.name
    pattern = SCAN.get(dialect)
    if pattern is None:
        return []
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    found = []
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("ANALYZE")  # plans from fresh statistics, as a long-running database has
        raw.commit()
        for statement, params in seen.items():
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            cur = raw.cursor()
            try:
                cur.execute(prefix + statement, params or ())
                plan = " ".join(str(r[-1]) for r in cur.fetchall())
            except Exception as exc:  # a plan we cannot get is reported, not fatal
                found.append(f"(no plan: {type(exc).__name__}) {statement[:100]}")
                continue
            finally:
                cur.close()
                raw.rollback()
            found.extend(f"{t}: {' '.join(statement.split())[:160]}" for t in set(pattern.findall(plan)))
    finally:
        raw.close()
    return found


def config_text(url: str, key: Path, sim_url: str, interval: str, concurrency: int = 32) -> str:
    return (
        f'[database]\nurl = "{url}"\n[security]\nkey_file = "{key}"\n'
        f'[threads]\nbase_url = "{sim_url}"\nconcurrency = {concurrency}\nmax_calls_per_hour = 10000000\n'
        f'[schedule]\nsweep_interval = "{interval}"\n[http]\nlisten = "127.0.0.1:0"\n'
        '[log]\nlevel = "warning"\n'
    )


def checks_done(daemon: Daemon) -> int:
    """Checks counted by the daemon's own counter (not a scrape: that would read the database)."""
    samples = [s for family in daemon.events.checks.collect() for s in family.samples]
    return int(sum(s.value for s in samples if s.name.endswith("_total")))


@dataclass
class Window:
    """What one phase (the sweep, or the idle time after it) cost."""

    seconds: float
    checks: int
    statements: int
    commits: int
    pg: dict[str, int]


@contextmanager
def running(config_file: Path) -> Iterator[tuple[Daemon, Counter]]:
    daemon = Daemon(load_config(str(config_file)))
    counter = Counter()
    counter.attach(daemon.engine)
    daemon.start()
    try:
        yield daemon, counter
    finally:
        daemon.stop()


def measure(
    kind: str,
    n: int,
    idle: float,
    trouble: float = 0.0,
    latency: float = 0.0,
    concurrency: int = 32,
    first_only: bool = False,
    where: bool = False,
) -> dict[str, Any]:
    """Fill, sweep, idle: the sweep window and the idle window of one fleet size."""
    with tempfile.TemporaryDirectory(prefix="ttm-bench-db") as tmp_s, database(kind, Path(tmp_s)) as url:
        tmp = Path(tmp_s)
        started = time.perf_counter()
        fill_registry(url, tmp / "key", n)
        filled = time.perf_counter() - started
        pg = url.startswith("postgresql")
        # The daemon starts with nothing due, and the first sweep begins once what starting cost (each new
        # connection reads the catalogs, the first full evaluation) was counted: that is paid once per
        # daemon, not per check, and is reported apart (PostgreSQL's counters lag, so a window opened at
        # the start would have counted it as the sweep's).
        # The latency-bound runs measure the idle ticks in that wait, before the sweep (no alert firing yet):
        # a second daemon after it would take half a minute more per size.
        idle_first = idle if first_only else 0.0
        due_at = hold(url, (2 * _flush(url) if pg and where else _flush(url)) + 8 + idle_first)
        with simulator(n, latency=latency, expiring=trouble) as sim:
            config, pg_url = tmp / "config.toml", url if pg else None
            config.write_text(config_text(url, tmp / "key", sim.url, "2s", concurrency))
            at_start = pg_stats(url) if pg else {}
            with running(config) as (daemon, counter):
                # --where: rows read per table and index (reading them adds catalog rows to the counts)
                relations0 = read_by_relation(url) if pg and where else {}
                if first_only:
                    time.sleep(max(0.0, due_at - idle_first - 0.5 - time.time()))
                    started_up = pg_stats(url) if pg else {}
                    idle_w = _idle_window(daemon, counter, idle_first, pg_url, started_up)
                time.sleep(max(0.0, due_at - 0.5 - time.time()))
                relations0 = read_by_relation(url) if relations0 else {}
                before = pg_stats(url) if pg else {}  # from here on: the sweep, not the start-up
                startup = _delta(started_up if first_only else before, at_start)
                counts0 = dict(counter.counts)
                if not first_only:  # the first sweep, then a second by the same warm daemon: the steady state
                    sweep = _sweep_window(daemon, counter, n, pg_url, before)
                    relations0 = read_by_relation(url) if relations0 else {}
                    make_due(url)
                    before = pg_stats(url) if pg else {}
                    counts0 = dict(counter.counts)
                # The measured sweep ends with the daemon: its connections' counts are flushed as they close,
                # so the window holds the sweep and none of the idle ticks after it.
                total = n if first_only else 2 * n
                connects0 = counter.connects
                warm = _sweep_window(daemon, counter, total, pg_url, before, end=daemon.stop)
                connects = counter.connects - connects0
                sweep = warm if first_only else sweep
                spread = where_rows_go(relations0, read_by_relation(url), warm.checks) if relations0 else []
                busiest = sorted(
                    ((v - counts0.get(k, 0), k) for k, v in dict(counter.counts).items()), reverse=True
                )[:10]
                scans = full_scans(daemon.engine, dict(counter.seen))
            if not first_only:
                with running(config) as (daemon, counter):  # idle: nothing due, after this daemon's start-up
                    time.sleep(_flush(url))
                    idle_w = _idle_window(daemon, counter, idle, pg_url, pg_stats(url) if pg else {})
            tables = table_reads(url) if pg else []
    return {
        "kind": kind,
        "n": n,
        "latency": latency,
        "concurrency": concurrency,
        "first_only": first_only,
        "fill": filled,
        "startup": startup,
        "sweep": sweep,
        "warm": warm,
        "idle": idle_w,
        "scans": scans,
        "connects": connects,
        "tables": tables,
        "spread": spread,
        "busiest": [
            f"{c / max(1, sweep.checks):6.3f}/check  {' '.join(k.split())[:150]}" for c, k in busiest
        ],
    }


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def hold(url: str, seconds: float) -> float:
    """No token due before `seconds` from now (dead rows cleared, statistics fresh); when they fall due."""
    due_at = time.time() + seconds
    engine = create_engine(make_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE tokens SET next_check_at = :at"), {"at": due_at})
    engine.dispose()
    analyze(url, vacuum=True)
    return due_at


def make_due(url: str) -> None:
    """Every token due once FLUSH seconds have passed (so that this write, and what autovacuum does after
    that many changed rows, stay outside the measured window: the benchmark server runs without
    autovacuum, a production server does not)."""
    hold(url, _flush(url) + 1)
    time.sleep(_flush(url))


def _flush(url: str | None) -> float:
    """How long to wait at a window's edge: PostgreSQL's counters lag, query counting does not."""
    return FLUSH if url and url.startswith("postgresql") else 0.5


def _sweep_window(
    daemon: Daemon,
    counter: Counter,
    n: int,
    pg_url: str | None,
    before: dict[str, int],
    end: Callable[[], None] | None = None,
) -> Window:
    """From now until the daemon counted `n` checks in all; with `end`, which stops the daemon, its rows
    are read once its connections closed (each flushes its counts as it ends), else FLUSH seconds later."""
    t0, checks0 = time.perf_counter(), checks_done(daemon)
    statements0, commits0 = counter.snapshot()
    deadline = t0 + 3600
    while checks_done(daemon) < n and time.perf_counter() < deadline:
        time.sleep(0.2)
    took = time.perf_counter() - t0
    if end is not None:
        end()
        if pg_url:
            _closed(pg_url)
    else:
        time.sleep(_flush(pg_url))
    statements, commits = counter.snapshot()
    after = pg_stats(pg_url) if pg_url else {}
    checks = checks_done(daemon) - checks0
    return Window(took, checks, statements - statements0, commits - commits0, _delta(after, before))


def _closed(url: str, timeout: float = 30.0) -> None:
    """Wait until no connection to the bench database is left (their counts are flushed as they end)."""
    deadline = time.monotonic() + timeout
    with _server(url) as (conn, name):
        while time.monotonic() < deadline:
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": name}
            ).scalar()
            if not left:
                break
            time.sleep(0.05)


def _idle_window(
    daemon: Daemon, counter: Counter, seconds: float, pg_url: str | None, before: dict[str, int]
) -> Window:
    statements0, commits0 = counter.snapshot()
    checks0 = checks_done(daemon)
    time.sleep(seconds)
    statements, commits = counter.snapshot()
    after = pg_stats(pg_url) if pg_url else {}
    checks = checks_done(daemon) - checks0
    return Window(seconds, checks, statements - statements0, commits - commits0, _delta(after, before))


def _per(value: float, by: float) -> str:
    return f"{value / by:.2f}" if by else "-"


def report(results: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "backend     tokens  fill s  sweep s  rows/check (1st sweep)  rows/check  commits/check"
        "  stmts/check  tx/check  idle rows/s  idle stmts/s",
    ]
    for r in results:
        first, s, i = r["sweep"], r["warm"], r["idle"]
        lines.append(
            f"{r['kind'][:10]:<10} {r['n']:>7}  {r['fill']:>6.1f}  {s.seconds:>7.1f}"
            f"  {_per(first.pg.get('rows', 0), first.checks) if s.pg else '-':>22}"
            f"  {_per(s.pg.get('rows', 0), s.checks) if s.pg else '-':>10}"
            f"  {_per(s.pg.get('commits', 0), s.checks) if s.pg else '-':>13}"
            f"  {_per(s.statements, s.checks):>11}  {_per(s.commits, s.checks):>8}"
            f"  {_per(i.pg.get('rows', 0), i.seconds) if i.pg else '-':>11}"
            f"  {_per(i.statements, i.seconds):>12}"
        )
    return lines


def details(r: dict[str, Any]) -> list[str]:
    """Rows read per table over the whole run, and the statements whose plan reads a whole table."""
    lines = [f"-- {r['kind'][:10]} {r['n']} tokens"]
    if r["startup"]:
        lines.append(
            f"   daemon start-up, before the first sweep (once): {r['startup']['rows']} rows read,"
            f" {r['startup']['commits']} commits"
        )
    if r["tables"]:
        lines.append("   rows read by table (fill, sweep and idle): " + ", ".join(r["tables"]))
    lines.append(f"   database connections opened during the measured sweep: {r['connects']}")
    lines += [f"   whole-table plan: {s}" for s in r["scans"]] or ["   whole-table plans: none"]
    lines += ["   first sweep, rows read per check by relation:"] + [f"     {s}" for s in r.get("spread", [])]
    lines += ["   first sweep, statements run most:"] + [f"     {s}" for s in r.get("busiest", [])]
    return lines


def verdict(results: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    pg = [r for r in results if r["warm"].pg]
    if not pg:
        return "no PostgreSQL run: rows-read target not measured", True
    per = [r["warm"].pg["rows"] / max(1, r["warm"].checks) for r in pg]
    flat = max(per) / min(per)
    ok = max(per) < TARGET_ROWS and flat <= TARGET_FLATNESS
    text_ = (
        f"rows read per check (2nd sweep) {min(per):.2f} .. {max(per):.2f} ({flat:.2f}x across sizes);"
        f" target < {TARGET_ROWS:.0f} and <= {TARGET_FLATNESS:.0f}x: {'pass' if ok else 'FAIL'}"
    )
    return text_, ok


TARGET_FIRST = 15.0  # issue 30: rows per check in a latency-bound first sweep


def verdict_first(results: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    pg = [r for r in results if r["sweep"].pg]
    if not pg:
        return "no PostgreSQL run: rows-read target not measured", True
    per = [r["sweep"].pg["rows"] / max(1, r["sweep"].checks) for r in pg]
    ok = max(per) <= TARGET_FIRST
    sizes = " / ".join(f"{v:.2f}" for v in per)
    return (
        f"rows read per check (1st sweep) {sizes}; target <= {TARGET_FIRST:.0f}: {'pass' if ok else 'FAIL'}",
        ok,
    )


def record(
    rec: Record, args: argparse.Namespace, results: Sequence[dict[str, Any]], first_only: bool
) -> None:
    for r in results:
        first, s, i = r["sweep"], r["warm"], r["idle"]
        setting = f"{r['n']:,} tokens, latency {r['latency'] * 1000:.0f} ms, C = {r['concurrency']}"
        raw = {
            "tokens": r["n"],
            "latency": r["latency"],
            "concurrency": r["concurrency"],
            "trouble": args.trouble,
            "startup": r["startup"],
            "first": vars(first),
            "steady": vars(s),
            "idle": vars(i),
            "full_scans": r["scans"],
        }
        if not first.pg:
            rec.row(
                f"{r['kind']}: statements per check, {setting}",
                measured=f"{_per(s.statements, s.checks)} (tx {_per(s.commits, s.checks)})",
                raw=raw,
            )
            continue
        if first_only:
            rows = first.pg["rows"] / max(1, first.checks)
            rec.row(
                f"PostgreSQL rows read per check, first sweep, {setting}, one daemon",
                measured=f"{rows:.2f} ({first.checks} checks in {first.seconds:.1f} s;"
                f" start-up once before: {r['startup'].get('rows', 0)} rows)",
                floor=f"idle before the sweep: {_per(i.pg.get('rows', 0), i.seconds)} rows/s",
                target=f"<= {TARGET_FIRST:.0f}",
                ok=rows <= TARGET_FIRST,
                raw=raw,
            )
        else:
            rows = s.pg["rows"] / max(1, s.checks)
            rec.row(
                f"PostgreSQL rows read per check, steady sweep, {setting}",
                measured=f"{rows:.2f} (first sweep {_per(first.pg['rows'], first.checks)})",
                floor=f"idle: {_per(i.pg.get('rows', 0), i.seconds)} rows/s",
                target=f"< {TARGET_ROWS:.0f}, within {TARGET_FLATNESS:.0f}x across sizes",
                ok=rows < TARGET_ROWS,
                raw=raw,
            )
    rec.save()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("MONITOR_TEST_POSTGRES_URL", "sqlite"))
    parser.add_argument("--sizes", help="comma-separated fleet sizes (default 1000,10000,100000)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle ticks after the sweep")
    parser.add_argument("--quick", action="store_true", help="100 and 400 tokens, 1 s idle")
    parser.add_argument(
        "--trouble", type=float, default=0.1, help="fraction of the fleet inside the expiry warning"
    )
    parser.add_argument(
        "--latency-bound",
        action="store_true",
        help="issue 30's run: the first sweep only, simulator latency 200 ms, concurrency 4, 300 and 2,400"
        " tokens (target <= 15 rows per check)",
    )
    parser.add_argument(
        "--where", action="store_true", help="also list rows read per table and index in the first sweep"
    )
    args = parser.parse_args(argv)
    first_only = args.latency_bound
    latency, concurrency = (0.2, 4) if first_only else (0.0, 32)
    if first_only:
        sizes = [20, 60] if args.quick else [int(v) for v in (args.sizes or "300,2400").split(",")]
    else:
        sizes = [100, 400] if args.quick else [int(v) for v in (args.sizes or "1000,10000,100000").split(",")]
    idle = 1.0 if args.quick else args.idle
    started = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    print(f"# dbwork {started}, nproc {os.cpu_count()}, db {args.db.split(':')[0]}, trouble {args.trouble:g}")
    rec = Record("dbwork_latency" if first_only else "dbwork", quick=args.quick, module="dbwork")
    results = []
    if first_only and len(sizes) > 1:
        # The latency-bound sizes wait on the simulator, not on a core: each in a process of its own, all
        # at once (rows read are counted per database, so running beside each other changes no figure).
        with ProcessPoolExecutor(max_workers=len(sizes), mp_context=get_context("spawn")) as pool:
            runs = [
                pool.submit(measure, args.db, n, idle, args.trouble, latency, concurrency, True, args.where)
                for n in sizes
            ]
            results = [run.result() for run in runs]
    else:
        for n in sizes:
            results.append(
                measure(args.db, n, idle, args.trouble, latency, concurrency, first_only, args.where)
            )
            print(report(results)[-1], flush=True)
    print("\n".join(report(results)))
    for r in results:
        print("\n".join(details(r)))
    line, ok = verdict_first(results) if first_only else verdict(results)
    print(line)
    record(rec, args, results, first_only)
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
