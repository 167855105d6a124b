"""Scale-out: 8 daemons sharing one PostgreSQL database against one, latency-bound (issue 30).

A fleet of N due tokens on a fresh PostgreSQL database; the simulator answers every call after `--latency`
seconds, so a daemon with `concurrency` C checks at most C / latency tokens a second (its floor) whatever
the CPU. One real `threads-token-monitor run` process is measured over `--window` seconds once it is
checking, then it stops and 8 start together and are measured over the same window. Checks per second are
counted by the simulator (debug_token calls answered). Target: 8 daemons >= 7x one.

No token checked twice: the simulator's call count against the tokens the database shows checked, and
the tokens with more than one snapshot (every token's first check writes one; a token claimed by two
daemons at once would write two).

    .venv/bin/python -m bench.scaleout                 # 6,000 tokens, 400 ms, C = 4, 30 s windows
    .venv/bin/python -m bench.scaleout --quick         # 300 tokens, 2 daemons, 3 s windows
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import SimProcess, database, fill_registry, postgres_url, simulator
from bench.dbwork import analyze
from bench.large import daemon, free_port, write_config
from bench.record import Record

TARGET_PER_DAEMON = 7.0 / 8.0  # >= 7x at 8 daemons


def rate(url: str, tmp: Path, sim: SimProcess, daemons: int, window: float, concurrency: int) -> float:
    """Checks per second of `daemons` daemon processes over `window` s, once every one is checking."""
    with ExitStack() as stack:
        for i in range(daemons):
            config = write_config(tmp, url, sim.url, free_port(), concurrency, f"d{daemons}-{i}")
            stack.enter_context(daemon(config, tmp / f"d{daemons}-{i}.log"))
        start, deadline = sim.stats()["debug_token"], time.monotonic() + 120
        while sim.stats()["debug_token"] - start < 2 * concurrency * daemons:  # every daemon started
            if time.monotonic() > deadline:
                raise RuntimeError("the daemons did not start checking")
            time.sleep(0.2)
        first, t0 = sim.stats()["debug_token"], time.monotonic()
        time.sleep(window)
        return (sim.stats()["debug_token"] - first) / (time.monotonic() - t0)


def twice(url: str) -> tuple[int, int]:
    """(tokens checked, tokens with more than one snapshot)."""
    engine = create_engine(make_url(url))
    with engine.connect() as conn:
        checked = conn.scalar(text("SELECT count(*) FROM tokens WHERE last_check_at IS NOT NULL")) or 0
        doubled = conn.scalar(
            text(
                "SELECT count(*) FROM"
                " (SELECT token_id FROM snapshots GROUP BY token_id HAVING count(*) > 1) d"
            )
        )
    engine.dispose()
    return int(checked), int(doubled or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=postgres_url())
    parser.add_argument("--tokens", type=int, default=6000)
    parser.add_argument("--daemons", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.4, help="simulator latency, seconds")
    parser.add_argument("--concurrency", type=int, default=4, help="checks in flight per daemon")
    parser.add_argument("--window", type=float, default=30.0, help="seconds each run is measured")
    parser.add_argument("--quick", action="store_true", help="300 tokens, 2 daemons, 3 s windows")
    args = parser.parse_args(argv)
    if args.quick:
        args.tokens, args.daemons, args.window = 300, 2, 3.0
    if not args.db or not args.db.startswith("postgresql"):
        print("scaleout: no PostgreSQL URL (MONITOR_TEST_POSTGRES_URL or --db): skipped")
        return 0
    record = Record("scaleout", quick=args.quick)
    k, c, lat = args.daemons, args.concurrency, args.latency
    floor = c / lat
    print(
        f"# scaleout, {args.tokens:,} tokens, latency {lat * 1000:.0f} ms, C={c} per daemon,"
        f" nproc {os.cpu_count()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="ttm-bench-scale") as tmp_s,
        database(args.db, Path(tmp_s)) as url,
    ):
        tmp = Path(tmp_s)
        fill_registry(url, tmp / "key", args.tokens)
        analyze(url)
        with simulator(args.tokens, latency=lat) as sim:
            one = rate(url, tmp, sim, 1, args.window, c)
            many = rate(url, tmp, sim, k, args.window, c)
            calls = sim.stats()["debug_token"]
        checked, doubled = twice(url)
    scale = many / one
    ok_scale = scale >= TARGET_PER_DAEMON * k
    dup = calls - checked
    print(f"1 daemon:   {one:.1f} checks/s (floor {floor:.1f})")
    print(f"{k} daemons: {many:.1f} checks/s (floor {k * floor:.1f}): {scale:.2f}x")
    print(f"debug_token calls {calls:,}, tokens checked {checked:,}, tokens with two snapshots {doubled}")
    raw = {"tokens": args.tokens, "daemons": k, "latency": lat, "concurrency": c, "window": args.window}
    record.row(
        f"scale-out, one daemon, {args.tokens:,} tokens, latency {lat * 1000:.0f} ms, C = {c}",
        measured=f"{one:.1f} checks/s",
        floor=f"{floor:.1f} checks/s = C / latency",
        raw=raw | {"rate": one},
    )
    record.row(
        f"scale-out, {k} daemons on one PostgreSQL database, same fleet",
        measured=f"{many:.1f} checks/s ({scale:.2f}x)",
        floor=f"{k * floor:.1f} checks/s",
        target=f">= {TARGET_PER_DAEMON * k:.0f}x one daemon",
        ok=ok_scale,
        raw=raw | {"rate": many, "scale": scale},
        derived=f"the ratio is {k} daemons' rate / one daemon's",
    )
    record.row(
        "tokens checked twice (simulator calls - tokens checked; tokens with 2 snapshots)",
        measured=f"{dup} of {checked:,}; {doubled}",
        target="0",
        ok=dup == 0 and doubled == 0,
        raw={"calls": calls, "checked": checked, "doubled": doubled},
    )
    record.save()
    return 0 if record.passed or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
