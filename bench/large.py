"""A large fleet on PostgreSQL (`make bench-large`): one daemon's full sweep of N tokens, then scale-out.

Part 1, N tokens (default 1,000,000): registry import time, RSS of a real `threads-token-monitor run`
process during its full sweep (target < 250 MB), PostgreSQL rows read and commits per check, /metrics in
`problems` mode (after the sweep changed everything, then unchanged), database size per token, and the
full-sweep time at the simulator's zero latency with the daemon's CPU per check next to a bare `requests`
loop making the same calls (the floor, measured in the same run).

Part 2, scale-out at M tokens (default 100,000), latency-bound (simulator latency 100 ms, concurrency 4 per
daemon): checks per second of 1, 2 and 4 daemons sharing the database, each over the same window, and the
calls counted by the simulator against the tokens checked (no token inspected twice). Target: >= 3.5x at 4.

    .venv/bin/python -m bench.large --db postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.large --tokens 200000 --scale-tokens 100000 --window 40
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import ROOT, SimProcess, database, fill_registry, simulator
from bench.dbwork import analyze, pg_stats
from bench.memory import rss_mb
from bench.record import Record
from bench.sweep import bare_loop_cpu

TARGET_RSS_MB = 250.0
TARGET_ROWS = 20.0
TARGET_SCALE = 3.5
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def write_config(tmp: Path, url: str, sim_url: str, port: int, concurrency: int, name: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\npool_size = 4\n[security]\nkey_file = "{tmp / "key"}"\n'
        f'[threads]\nbase_url = "{sim_url}"\nconcurrency = {concurrency}\nmax_calls_per_hour = 10000000\n'
        f'[schedule]\nsweep_interval = "2s"\n[http]\nlisten = "127.0.0.1:{port}"\n'
        '[metrics]\nper_token = "problems"\n[log]\nlevel = "warning"\n'
    )
    return path


@contextmanager
def daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `threads-token-monitor run` process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def wait_for_calls(sim: SimProcess, proc: subprocess.Popen[bytes], target: int, peak: list[float]) -> None:
    """Until the simulator answered `target` debug_token calls; samples the daemon's RSS meanwhile."""
    deadline = time.monotonic() + 6 * 3600
    while sim.stats()["debug_token"] < target:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the daemon exited or the sweep did not finish")
        peak.append(rss_mb(proc.pid)[0])
        time.sleep(0.5 if target == 1 else 2.0)


def scrape(port: int) -> tuple[float, int]:
    started = time.perf_counter()
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=600)
    r.raise_for_status()
    return time.perf_counter() - started, len(r.content)


def sizes(url: str, n: int) -> dict[str, float]:
    engine = create_engine(make_url(url))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT pg_database_size(current_database()), pg_total_relation_size('tokens'),"
                " pg_total_relation_size('snapshots')"
            )
        ).one()
    engine.dispose()
    return {"database": row[0] / n, "tokens": row[1] / n, "snapshots": row[2] / n}


@dataclass
class Sweep:
    seconds: float
    cpu: float
    rss_peak: float
    rss_end: float
    rows: int
    commits: int
    scrape_changed: float
    scrape_unchanged: float
    scrape_bytes: int
    scrape_vacuumed: float


def one_daemon(url: str, tmp: Path, sim: SimProcess, n: int) -> Sweep:
    port = free_port()
    config = write_config(tmp, url, sim.url, port, 32, "one")
    before = pg_stats(url)
    with daemon(config, tmp / "one.log") as proc:
        peak = [0.0]
        wait_for_calls(sim, proc, 1, peak)  # started: imports and start-up are not per-check work
        started, cpu0, calls0 = time.monotonic(), cpu_seconds(proc.pid), sim.stats()["debug_token"]
        wait_for_calls(sim, proc, n, peak)
        took = (time.monotonic() - started) * n / (n - calls0)
        cpu = (cpu_seconds(proc.pid) - cpu0) * n / (n - calls0)
        rss_end, hwm = rss_mb(proc.pid)
        time.sleep(3)  # the last batch stored; statistics flushed
        after = pg_stats(url)
        changed, size = scrape(port)
        unchanged, _ = scrape(port)
        vacuumed = scrape_after_vacuum(url, port)
    rows, commits = after["rows"] - before["rows"], after["commits"] - before["commits"]
    return Sweep(took, cpu, max(hwm, *peak), rss_end, rows, commits, changed, unchanged, size, vacuumed)


def scrape_after_vacuum(url: str, port: int) -> float:
    """A changed scrape once VACUUM ANALYZE ran, as autovacuum would have during the sweep (this benchmark's
    server runs without it): the index-only counts of the fleet families then skip the heap."""
    analyze(url, vacuum=True)
    engine = create_engine(make_url(url))
    with engine.begin() as conn:  # one edit: the change marker moves, the next scrape renders again
        conn.execute(
            text("UPDATE tokens SET updated_at = :t WHERE id = (SELECT min(id) FROM tokens)"),
            {"t": time.time()},
        )
    engine.dispose()
    return scrape(port)[0]


def part_one(kind: str, n: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="ttm-bench-large") as tmp_s, database(kind, Path(tmp_s)) as url:
        tmp = Path(tmp_s)
        t0 = time.perf_counter()
        fill_registry(url, tmp / "key", n)
        imported = time.perf_counter() - t0
        analyze(url)
        with simulator(n) as sim:
            sweep = one_daemon(url, tmp, sim, n)
            bare_n = min(n, 20_000)
            bare = bare_loop_cpu(sim.url, bare_n, 8) / bare_n
        per_token = sizes(url, n)
    return report_one(n, imported, sweep, bare, per_token)


def report_one(n: int, imported: float, s: Sweep, bare: float, size: dict[str, float]) -> list[str]:
    per_check = s.cpu / n
    rows = s.rows / n
    verdict = {True: "pass", False: "FAIL"}
    return [
        f"import {n:,} tokens (add_tokens, batches of 20,000)     {imported:.0f} s ({n / imported:,.0f}/s)",
        f"full sweep by one daemon (L=0, C=32)  {s.seconds:.0f} s ({n / s.seconds:,.0f} checks/s)",
        f"daemon CPU per check / bare requests loop (floor)   {per_check * 1e3:.3f} ms / {bare * 1e3:.3f} ms"
        f" ({per_check / bare:.2f}x)",
        f"daemon RSS during the sweep: peak / at the end     {s.rss_peak:.0f} / {s.rss_end:.0f} MB"
        f"   target < {TARGET_RSS_MB:.0f} MB: {verdict[s.rss_peak < TARGET_RSS_MB]}",
        f"PostgreSQL rows read per check / commits per check  {rows:.2f} / {s.commits / n:.3f}"
        f"   target < {TARGET_ROWS:.0f}: {verdict[rows < TARGET_ROWS]}",
        f"/metrics, problems mode: after the sweep / unchanged  {s.scrape_changed:.3f} s"
        f" / {s.scrape_unchanged:.3f} s"
        f" ({s.scrape_bytes:,} bytes)",
        f"/metrics, problems mode, after a change once vacuumed (as autovacuum would)"
        f"  {s.scrape_vacuumed:.3f} s",
        f"database size per token: whole database / tokens / snapshots  {size['database']:.0f} /"
        f" {size['tokens']:.0f} / {size['snapshots']:.0f} bytes",
    ]


def checks_per_second(url: str, tmp: Path, sim: SimProcess, daemons: int, window: float) -> float:
    with ExitStack() as stack:
        for i in range(daemons):
            config = write_config(tmp, url, sim.url, free_port(), 4, f"scale{daemons}-{i}")
            stack.enter_context(daemon(config, tmp / f"scale{daemons}-{i}.log"))
        start = sim.stats()["debug_token"]
        while sim.stats()["debug_token"] - start < 8 * daemons:  # every daemon started and working
            time.sleep(0.2)
        first, t0 = sim.stats()["debug_token"], time.monotonic()
        time.sleep(window)
        return (sim.stats()["debug_token"] - first) / (time.monotonic() - t0)


def part_two(kind: str, m: int, window: float) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="ttm-bench-scale") as tmp_s, database(kind, Path(tmp_s)) as url:
        tmp = Path(tmp_s)
        fill_registry(url, tmp / "key", m)
        analyze(url)
        with simulator(m, latency=0.1) as sim:
            rates = {k: checks_per_second(url, tmp, sim, k, window) for k in (1, 2, 4)}
            calls = sim.stats()["debug_token"]
        engine = create_engine(make_url(url))
        with engine.connect() as conn:
            checked = conn.scalar(text("SELECT count(*) FROM tokens WHERE last_check_at IS NOT NULL"))
        engine.dispose()
    lines = [f"{k} daemon(s): {r:.1f} checks/s ({r / rates[1]:.2f}x)" for k, r in rates.items()]
    scale = rates[4] / rates[1]
    lines.append(
        f"4 daemons: {scale:.2f}x, target >= {TARGET_SCALE}x: {'pass' if scale >= TARGET_SCALE else 'FAIL'}"
    )
    lines.append(
        f"debug_token calls {calls:,}, tokens checked {checked:,}: {calls - (checked or 0)} inspected twice"
    )
    return lines


def _split(line: str) -> tuple[str, str, str]:
    parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
    return (parts[0], "", parts[1]) if len(parts) == 2 else (line.strip(), "", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("MONITOR_TEST_POSTGRES_URL"))
    parser.add_argument("--tokens", type=int, default=1_000_000, help="part 1 fleet size")
    parser.add_argument("--scale-tokens", type=int, default=100_000, help="part 2 fleet size (0: skip)")
    parser.add_argument("--window", type=float, default=40.0, help="seconds each scale-out run is measured")
    args = parser.parse_args(argv)
    if not args.db or not args.db.startswith("postgresql"):
        parser.error("a PostgreSQL URL is needed (--db or MONITOR_TEST_POSTGRES_URL)")
    stamp = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    print(f"# bench.large {stamp}, nproc {os.cpu_count()}, tokens {args.tokens:,}", flush=True)
    rec = Record("large", quick=args.tokens < 1_000_000)
    lines: list[str] = []
    if args.tokens:
        lines += part_one(args.db, args.tokens)
        print("\n".join(lines), flush=True)
    if args.scale_tokens:
        print(
            f"# scale-out at {args.scale_tokens:,} tokens, L=100 ms, C=4 per daemon, {args.window:.0f} s each"
        )
        more = part_two(args.db, args.scale_tokens, args.window)
        print("\n".join(more))
        lines += more
    for line in lines:  # "what   figures   target: verdict", as printed
        what, _, rest = _split(line)
        verdict = "pass" if rest.endswith("pass") else ("FAIL" if rest.endswith("FAIL") else None)
        rec.row(what, measured=rest, ok=None if verdict is None else verdict == "pass")
    rec.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
