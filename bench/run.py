"""Run every benchmark and print its table: `make bench` (full) or `make bench-quick` (small N, a smoke test).

Each benchmark runs in its own process so that one's memory, threads and CPU accounting cannot disturb the
next. Exit status 1 when a benchmark fails to run or reports a missed target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, arguments for the full run, arguments for the quick run)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("sweep", [], ["--quick"]),
    ("scrape", [], ["--quick"]),
    ("memory", [], ["--quick"]),
    ("apicalls", [], ["--quick"]),
    ("alert_latency", [], ["--quick"]),
    ("callback_latency", [], ["--quick"]),
    ("sources", [], ["--rows", "2000"]),
    # 100,000 tokens takes about 5 minutes more: `python -m bench.dbwork` (default sizes) runs it.
    ("dbwork", ["--sizes", "1000,10000"], ["--quick"]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every benchmark runs")
    parser.add_argument("only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    print(
        f"# threads-token-monitor benchmarks, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}, nproc {os.cpu_count()}"
        f"{' (quick)' if args.quick else ''}",
        flush=True,
    )
    failed = []
    started = time.monotonic()
    for name, full, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        extra = quick if args.quick else full
        if name == "sources" and not args.quick and os.environ.get("MONITOR_TEST_POSTGRES_URL"):
            extra = []
        print(f"\n## {name}: python -m bench.{name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *extra], cwd=ROOT, env=env)
        print(f"({name}: {time.monotonic() - t0:.0f} s, exit {code})", flush=True)
        if code != 0:
            failed.append(name)
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; "
        + (f"missed or failed: {', '.join(failed)}" if failed else "every benchmark ran and met its target")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
