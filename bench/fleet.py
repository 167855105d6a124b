"""Fleet counts (issue 30): a changed `problems` scrape at N tokens before and after VACUUM, and the
triggers' cost to a write.

Part 1 fills N tokens (bench/scrape.py's rows, a 0.01 % in trouble), runs a "sweep" that updates every row
the way checks do (last_check_at, and the horizon moved by a minute: the trigger fires for every row), with
the deltas folded as the daemon folds them, and no VACUUM (autovacuum off for the tables, as on the
benchmark server): then the daemon's /metrics path (MetricsRegistry.render) after a check changed one token,
the same unchanged (cached), and the fleet counts alone read the old way (COUNT(*), the source GROUP BY, the
expiry windows' range counts) and from the fleet tables. Then VACUUM ANALYZE and the same again.

Part 2 (M tokens): milliseconds per single-row UPDATE statement with the triggers and without (disabled),
for an update that moves a horizon (the trigger writes a delta) and one that does not (its WHEN skips it).

    .venv/bin/python -m bench.fleet --db postgresql+psycopg://postgres@127.0.0.1:5432/test --tokens 1000000
    .venv/bin/python -m bench.fleet --quick          # SQLite, small sizes: checks that it runs

The 1,000,000-token fill and sweep take about 20 minutes on 2 cores; `--prepare DB` does them once into a
kept database, `--template DB` measures on a fresh copy of it (CREATE DATABASE ... TEMPLATE: the same
unvacuumed files) in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, case, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from bench.common import database
from bench.dbwork import analyze
from bench.record import Record
from bench.scrape import DAY, fill
from monitor.config.load import DatabaseConfig, MetricsConfig, default_config
from monitor.context import Context
from monitor.db.migrate import upgrade
from monitor.db.models import Token
from monitor.db.session import make_engine
from monitor.metrics.exposition import MetricsInputs, MetricsRegistry, MetricsSettings
from monitor.metrics.fleet import HORIZONS, WINDOWS, compact, read_fleet

TARGET_SECONDS = 0.05
TABLES = ("tokens", "fleet_deltas", "fleet_counts")


def wall(fn: Callable[[], object], repeat: int) -> float:
    """Median wall seconds (the database works in another process)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def old_counts(engine: Engine, now: float) -> None:
    """The fleet counts as read_stored read them before migration 0012."""
    with engine.connect() as conn:
        conn.scalar(select(func.count()).select_from(Token))
        conn.execute(
            select(Token.source, func.count()).where(Token.source.is_not(None)).group_by(Token.source)
        )
        for _, column in HORIZONS:
            terms = [func.coalesce(func.sum(case((column <= now + s, 1), else_=0)), 0) for s in WINDOWS]
            conn.execute(select(*terms).where(Token.is_valid.is_(True), column <= now + WINDOWS[-1])).one()


def new_counts(engine: Engine, now: float) -> None:
    with engine.connect() as conn:
        read_fleet(conn, now)


def sweep(engine: Engine, n: int, now: float) -> float:
    """Every row updated once as a check updates it, folded as the daemon folds; seconds taken."""
    started = time.perf_counter()
    step = 20_000
    with engine.connect() as conn:
        hi = int(conn.scalar(select(func.max(Token.id))) or 0)
    for lo in range(0, hi + 1, step):
        with engine.begin() as conn:
            conn.execute(
                update(Token)
                .where(Token.id >= lo, Token.id < lo + step)
                .values(last_check_at=now, expires_at=Token.expires_at + 60.0)
            )
        compact(engine)
    compact(engine)
    return time.perf_counter() - started


def scrapes(engine: Engine, url: str, now: float, repeat: int) -> dict[str, float]:
    config = replace(
        default_config(), database=DatabaseConfig(url=url), metrics=MetricsConfig(per_token="problems")
    )
    ctx = Context(config, clock=lambda: now)
    cached = MetricsRegistry(MetricsInputs(ctx.engine, MetricsSettings.of(config), clock=ctx.clock))
    cached.render()

    def changed() -> bytes:
        with ctx.engine.begin() as conn:
            conn.execute(update(Token).where(Token.id == 1).values(last_check_at=time.time()))
        return cached.render()

    out = {
        "changed": wall(changed, repeat),
        "unchanged": wall(cached.render, repeat),
        "old_counts": wall(lambda: old_counts(engine, now), max(1, repeat // 2)),
        "new_counts": wall(lambda: new_counts(engine, now), repeat),
    }
    ctx.close()
    return out


def no_autovacuum(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in TABLES:
                conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))


def prepare(engine: Engine, n: int, now: float) -> str:
    """Fill `n` tokens and sweep them once, with no VACUUM: the state a changed scrape is measured in."""
    no_autovacuum(engine)
    started = time.perf_counter()
    fill(engine, n, 0.0001, now)
    filled = time.perf_counter() - started
    analyze(engine.url.render_as_string(hide_password=False))
    swept = sweep(engine, n, now)
    return f"fill {n:,} tokens {filled:.0f} s; sweep (every row updated, deltas folded) {swept:.0f} s"


@contextmanager
def copy_of(server: str, template: str) -> Iterator[str]:
    """A new database copied from `template` (kept by --prepare): its unvacuumed state, files and all."""
    base = make_url(server)
    name = f"ttm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def part_one(
    kind: str, tmp: Path, n: int, repeat: int, template: str | None = None, rec: Record | None = None
) -> list[str]:
    with ExitStack() as stack:
        if template is None:
            now = time.time()
            url = stack.enter_context(database(kind, tmp))
            engine = make_engine(url)
            prepared = prepare(engine, n, now)
        else:
            url = stack.enter_context(copy_of(kind, template))
            engine = make_engine(url)
            with engine.connect() as conn:  # the fill's `now`: tokens were created 5 days before it
                now = float(conn.scalar(select(func.max(Token.created_at))) or 0) + 5 * DAY
                n = int(conn.scalar(select(func.count()).select_from(Token)) or 0)
            prepared = f"a copy of {template} ({n:,} tokens, prepared by --prepare {template})"
        before = scrapes(engine, url, now, repeat)
        analyze(url, vacuum=True)
        after = scrapes(engine, url, now, repeat)
        engine.dispose()
    verdict = {True: "pass", False: "FAIL"}
    lines = [prepared]
    for label, m in (("before VACUUM", before), ("after VACUUM ANALYZE", after)):
        if rec is not None:
            rec.row(
                f"changed problems scrape, {n:,} tokens, {label}",
                measured=f"{m['changed']:.3f} s",
                target=f"<= {TARGET_SECONDS} s",
                ok=m["changed"] <= TARGET_SECONDS,
                raw={k: round(v, 5) for k, v in m.items()},
            )
        lines += [
            f"{label}: /metrics problems, after a check changed a token  {m['changed']:.3f} s"
            f"   target <= {TARGET_SECONDS} s: {verdict[m['changed'] <= TARGET_SECONDS]}",
            f"{label}: /metrics problems, unchanged (cached)  {m['unchanged']:.3f} s",
            f"{label}: fleet counts alone, counting the tokens (before 0012) / from the fleet tables"
            f"  {m['old_counts']:.3f} s / {m['new_counts']:.4f} s",
        ]
    return lines


def triggers(engine: Engine, on: bool) -> None:
    """Enable or disable the fleet triggers (PostgreSQL: ALTER TABLE; SQLite: drop, or re-create)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE tokens {'ENABLE' if on else 'DISABLE'} TRIGGER USER"))
            return
        if on:
            for sql in SAVED:
                conn.execute(text(sql))
        else:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            SAVED[:] = [sql for _, sql in rows]
            for name, _ in rows:
                conn.execute(text(f"DROP TRIGGER {name}"))


SAVED: list[str] = []


def per_update(engine: Engine, m: int, moves: bool, count: int) -> float:
    """Milliseconds per single-row UPDATE statement on random tokens, `count` of them in one transaction
    (so that the commit's fsync, the same with or without the triggers, does not drown their cost)."""
    rnd = random.Random(11)
    with engine.begin() as conn:
        started = time.perf_counter()
        for _ in range(count):
            values = {"last_check_at": time.time()}
            if moves:
                values["expires_at"] = time.time() + rnd.uniform(1, 60) * 86400
            conn.execute(update(Token).where(Token.id == rnd.randint(1, m)).values(**values))
        return (time.perf_counter() - started) / count * 1e3


def trigger_share(engine: Engine, moves: bool) -> tuple[float, float]:
    """PostgreSQL: (milliseconds in the fleet trigger, milliseconds in all) of one UPDATE of every row, from
    EXPLAIN ANALYZE (the server's own clock: no round trips, no client), rolled back."""
    sets = "last_check_at = last_check_at + 1" + (", expires_at = expires_at + 60" if moves else "")
    with engine.connect() as conn:
        trans = conn.begin()
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) UPDATE tokens SET {sets}")).scalar()
        trans.rollback()
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]
    fleet = sum(t["Time"] for t in top.get("Triggers", []) if t["Trigger Name"].startswith("fleet_"))
    return fleet, top["Execution Time"]


def part_two(kind: str, tmp: Path, m: int, count: int) -> list[str]:
    now = time.time()
    name = kind.split("+")[0].split(":")[0]
    lines: list[str] = []
    with database(kind, tmp) as url:
        engine = make_engine(url)
        fill(engine, m, 0.01, now)
        analyze(url, vacuum=True)
        if engine.dialect.name == "postgresql":
            for moves, what in (
                (True, "horizon moved (the trigger writes a delta)"),
                (False, "last_check_at only"),
            ):
                spent, total = trigger_share(engine, moves)
                lines.append(
                    f"{name} {m:,} tokens, EXPLAIN ANALYZE of one UPDATE of every row, {what}: fleet trigger"
                    f" {spent:.0f} ms of {total:.0f} ms ({spent / total:.0%},"
                    f" {spent / m * 1e3:.1f} us per row)"
                )
        results: dict[tuple[bool, bool], list[float]] = {}
        for _ in range(3):  # alternate, so that a burst of load hits both alike
            for on in (True, False):
                triggers(engine, on)
                for moves in (True, False):
                    results.setdefault((on, moves), []).append(per_update(engine, m, moves, count))
        triggers(engine, True)
        engine.dispose()
    med = {k: statistics.median(v) for k, v in results.items()}
    return lines + [
        f"{name} {m:,} tokens, single-row UPDATE statements, {what}:"
        f" {med[(True, moves)]:.3f} ms with the triggers / {med[(False, moves)]:.3f} ms without"
        f" ({med[(True, moves)] / med[(False, moves)]:.2f}x)"
        for moves, what in ((True, "horizon moved (a delta written)"), (False, "last_check_at only"))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("MONITOR_TEST_POSTGRES_URL") or "sqlite")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="part 1 fleet size (0: skip)")
    parser.add_argument("--write-tokens", type=int, default=50_000, help="part 2 fleet size (0: skip)")
    parser.add_argument("--updates", type=int, default=500, help="part 2 updates per measurement")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="SQLite, small sizes: checks that it runs")
    parser.add_argument(
        "--prepare", metavar="DB", help="PostgreSQL: fill and sweep --tokens into DB, keep it"
    )
    parser.add_argument("--template", metavar="DB", help="PostgreSQL: measure part 1 on a copy of DB")
    args = parser.parse_args(argv)
    if args.prepare:
        admin = create_engine(make_url(args.db), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {args.prepare} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {args.prepare}"))
        admin.dispose()
        engine = make_engine(
            make_url(args.db).set(database=args.prepare).render_as_string(hide_password=False)
        )
        upgrade(engine)
        print(prepare(engine, args.tokens, time.time()))
        engine.dispose()
        return 0
    kind = "sqlite" if args.quick else args.db
    n, m, count = (500, 500, 20) if args.quick else (args.tokens, args.write_tokens, args.updates)
    stamp = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    print(f"# bench.fleet {stamp}, nproc {os.cpu_count()}, {kind.split('://')[0]}", flush=True)
    rec = Record("fleet", quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="ttm-bench-fleet") as tmp:
        if n:
            (Path(tmp) / "one").mkdir()
            lines = part_one(kind, Path(tmp) / "one", n, args.repeat, args.template, rec)
            print("\n".join(lines), flush=True)
        if m:
            (Path(tmp) / "two").mkdir()
            lines = part_two(kind, Path(tmp) / "two", m, count)
            print("\n".join(lines), flush=True)
            for line in lines[-2:]:
                rec.note(line)
    rec.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
