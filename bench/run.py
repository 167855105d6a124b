"""Run every benchmark and print its table: `make bench` (full) or `make bench-quick` (small N, a smoke test).

Each benchmark runs in its own process so that one's memory, threads and CPU accounting cannot disturb the
next, and writes its JSON record (bench/record.py; `python -m bench.render` then renders RESULTS.md). They run
in groups: the `cpu` group one after another (CPU time is what they measure: nothing else may run beside
them), then the `count` group side by side (API calls per token per day on an injected clock, and memory:
counts and bytes, which another process on the other core does not change), then the `wait` group all at once
(they measure latency-bound sweeps, alert and callback delays and rows read: time spent waiting on a simulated
API, not CPU), so the whole run stays under 10 minutes on 2 cores (`--quick` runs them all at once: a quick
run measures nothing). `bench.large` (about 51 minutes at 1,000,000 tokens) is `make bench-large`, and runs
here only in quick mode.
`bench/screenshots.py` is not a benchmark (tests/web_pages runs it). Exit status 1 when a benchmark fails to
run or reports a missed target.
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

# (label, module, arguments for the full run, arguments for the quick run, group)
BENCHMARKS: list[tuple[str, str, list[str], list[str], str]] = [
    ("profile_check", "profile_check", ["--rounds", "3"], ["--quick"], "cpu"),
    ("sweep", "sweep", [], ["--quick"], "cpu"),
    ("scrape", "scrape", [], ["--quick"], "cpu"),
    ("scrape_gzip", "scrape_gzip", [], ["--quick"], "cpu"),
    ("memory", "memory", [], ["--quick"], "count"),
    ("apicalls", "apicalls", [], ["--quick"], "count"),
    ("sources", "sources", [], ["--rows", "2000"], "cpu"),
    ("status_page", "status_page", ["--repeat", "3"], ["--tokens", "1000", "--repeat", "1"], "cpu"),
    ("alert_latency", "alert_latency", [], ["--quick"], "wait"),
    ("callback_latency", "callback_latency", [], ["--quick"], "wait"),
    ("callback_flood", "callback_flood", [], ["--seconds", "2", "--users", "5"], "wait"),
    # 100,000 tokens takes about 5 minutes more: `python -m bench.dbwork` (default sizes) runs it.
    ("dbwork", "dbwork", ["--sizes", "1000,10000"], ["--quick"], "wait"),
    ("dbwork_latency", "dbwork", ["--latency-bound"], ["--latency-bound", "--quick"], "wait"),
    ("scaleout", "scaleout", [], ["--quick"], "wait"),
    # A million tokens needs a prepared copy: `python -m bench.fleet --prepare DB`, then `--template DB`.
    ("fleet", "fleet", ["--tokens", "20000", "--write-tokens", "20000"], ["--quick"], "wait"),
    ("large", "large", [], ["--tokens", "500", "--scale-tokens", "0"], "quick-only"),
]
NEEDS_POSTGRES = {"scaleout", "large"}


def pg_url() -> str | None:
    """PostgreSQL for the scripts that need it; the smoke test passes it as BENCH_SMOKE_POSTGRES_URL so that
    the other quick runs stay on SQLite."""
    return os.environ.get("MONITOR_TEST_POSTGRES_URL") or os.environ.get("BENCH_SMOKE_POSTGRES_URL")


def command(label: str, module: str, extra: list[str]) -> list[str] | None:
    if label in NEEDS_POSTGRES:
        url = pg_url()
        if not url:
            return None
        extra = [*extra, "--db", url]
    return [sys.executable, "-m", f"bench.{module}", *extra]


def run_group(runs: list[tuple[str, list[str]]], together: bool, env: dict[str, str]) -> list[str]:
    """Run one group; the labels that failed. `together`: all at once, their output printed in turn."""
    failed: list[str] = []
    procs = []
    for label, cmd in runs:
        shown = " ".join(["python", *cmd[1:]]).replace(pg_url() or "\0", "$POSTGRES")
        print(f"\n## {label}: {shown}", flush=True)
        t0 = time.monotonic()
        if together:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append((label, proc, t0))
            continue
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        print(f"({label}: {time.monotonic() - t0:.0f} s, exit {code})", flush=True)
        if code != 0:
            failed.append(label)
    for label, proc, t0 in procs:
        out, _ = proc.communicate()
        took = time.monotonic() - t0
        print(f"\n## {label} (ran beside the rest of its group)\n{out.decode(errors='replace')}", end="")
        print(f"({label}: {took:.0f} s, exit {proc.returncode})", flush=True)
        if proc.returncode != 0:
            failed.append(label)
    return failed


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
    failed: list[str] = []
    started = time.monotonic()
    # --quick measures nothing that running beside the others could disturb: one group, all at once.
    for group in ("all",) if args.quick else ("cpu", "count", "wait", "quick-only"):
        runs = []
        for label, module, full, quick, in_group in BENCHMARKS:
            if (in_group != group and group != "all") or (args.only and label not in args.only):
                continue
            if group == "quick-only" and not args.quick:
                continue
            extra = quick if args.quick else full
            if label == "sources" and not args.quick and os.environ.get("MONITOR_TEST_POSTGRES_URL"):
                extra = []
            cmd = command(label, module, extra)
            if cmd is None:
                print(f"\n## {label}: skipped (needs PostgreSQL: MONITOR_TEST_POSTGRES_URL)", flush=True)
                continue
            runs.append((label, cmd))
        if runs:
            t0 = time.monotonic()
            failed += run_group(runs, together=group in ("count", "wait", "all"), env=env)
            print(f"(group {group}: {time.monotonic() - t0:.0f} s)", flush=True)
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; "
        + (f"missed or failed: {', '.join(failed)}" if failed else "every benchmark ran and met its target")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
