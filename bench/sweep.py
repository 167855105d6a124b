"""Sweep throughput and CPU per inspection.

- Throughput: N tokens, simulator latency L, concurrency C; the floor is N x L / C (every worker always busy).
  Target: within 1.25x of the floor at C = 32, on SQLite and on PostgreSQL.
- CPU: process CPU seconds per inspection of a full sweep (simulator at zero latency, in another process)
  against a bare requests.Session loop making the same calls. Target: at most 2x the bare loop.
"""

from __future__ import annotations

import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.common import (
    INSPECTOR,
    bench_main,
    database,
    fill_registry,
    postgres_url,
    simulator,
    token_string,
)
from monitor.check.observe import Cadence
from monitor.check.sweep import Sweeper
from monitor.db.session import make_engine, make_sessionmaker
from monitor.graph.client import GraphClient


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_sweep(url: str, sim_url: str, vault, concurrency: int) -> tuple[float, float, int]:
    """One full sweep of every due token: (wall seconds, CPU seconds, inspections)."""
    engine = make_engine(url, pool_size=4)
    client = GraphClient(base_url=sim_url, timeout=30, retries=0, pool_size=max(64, concurrency * 2))
    sweeper = Sweeper(
        sessions=make_sessionmaker(engine),
        vault=vault,
        client=client,
        cadence=Cadence(),
        owner="bench",
        concurrency=concurrency,
        retries=0,
    )
    try:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        stats = sweeper.sweep()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    finally:
        sweeper.close()
        client.close()
        engine.dispose()
    return wall, cpu, stats.inspected


def throughput(kind: str, n: int, latency: float, concurrency: int) -> dict:
    label = "sqlite" if kind == "sqlite" else "postgresql"
    with tempfile.TemporaryDirectory(prefix="ttm-bench") as tmp, database(kind, Path(tmp)) as url:
        vault = fill_registry(url, Path(tmp) / "key", n)
        with simulator(n, latency=latency) as sim:
            wall, _, inspected = run_sweep(url, sim.url, vault, concurrency)
            calls = sim.stats()["debug_token"]
    floor = n * latency / concurrency
    ratio = wall / floor
    ok = inspected == n and calls == n and ratio <= 1.25
    return {
        "benchmark": f"sweep {n} tokens, {label}, L={latency * 1000:.0f} ms, C={concurrency}",
        "measured": f"{wall:.2f} s",
        "floor": f"{floor:.2f} s",
        "ratio": f"{ratio:.2f}x",
        "target": "<= 1.25x",
        "result": "pass" if ok else f"FAIL ({inspected} inspected, {calls} calls)",
    }


def bare_loop_cpu(sim_url: str, n: int, concurrency: int) -> float:
    """CPU seconds of a bare requests.Session loop making the same n debug_token calls."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency * 2)
    session.mount("http://", adapter)

    def call(i: int) -> None:
        r = session.get(
            f"{sim_url}/v1.0/debug_token",
            params={"input_token": token_string(i), "access_token": INSPECTOR},
            timeout=30,
        )
        r.json()

    cpu0 = cpu_seconds()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(call, range(n)))
    return cpu_seconds() - cpu0


def cpu_per_inspection(n: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ttm-bench") as tmp, database("sqlite", Path(tmp)) as url:
        vault = fill_registry(url, Path(tmp) / "key", n)
        with simulator(n) as sim:
            bare = bare_loop_cpu(sim.url, n, concurrency)
            _, cpu, inspected = run_sweep(url, sim.url, vault, concurrency)
    per, floor = cpu / max(inspected, 1), bare / n
    ratio = per / floor
    return {
        "benchmark": f"CPU per inspection ({n} tokens, C={concurrency}, L=0)",
        "measured": f"{per * 1e3:.3f} ms",
        "floor": f"{floor * 1e3:.3f} ms (bare loop)",
        "ratio": f"{ratio:.2f}x",
        "target": "<= 2x",
        "result": "pass" if ratio <= 2 else "FAIL",
    }


def run(quick: bool = False) -> list[dict]:
    n, latency, cpu_n = (200, 0.05, 300) if quick else (10_000, 0.05, 5_000)
    rows = [throughput("sqlite", n, latency, 32)]
    pg = postgres_url()
    if pg:
        rows.append(throughput(pg, n, latency, 32))
    rows.append(cpu_per_inspection(cpu_n, 8))
    return rows


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
