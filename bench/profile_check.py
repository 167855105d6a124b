"""Where one check's CPU goes: the product's sweep against the bare `requests.Session` loop, side by side.

A SQLite registry of N due tokens and a simulator process at zero latency (127.0.0.1). Two measurements:
- CPU per check, unprofiled: `--rounds` rounds, each a bare loop of N debug_token calls (bench/sweep.py's
  floor) then a full sweep of N tokens by a real `Sweeper` (claim, decrypt, call, classify, store), in
  turns so that a burst of load on a shared machine hits both alike; the ratio is the median of the
  per-round ratios (process CPU, every thread).
- the profile: one more round of each under cProfile timing CPU (`time.thread_time`; every thread,
  merged), the time grouped by package and the top functions by own time, the bare loop's next to the
  product's. cProfile's own
  overhead inflates both; the ratio above is what counts.

Target: CPU per check <= 1.25x the bare loop (issue 30).

    .venv/bin/python -m bench.profile_check              # 5,000 tokens, 5 rounds
    .venv/bin/python -m bench.profile_check --quick      # 150 tokens, 2 rounds
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import database, fill_registry, simulator
from bench.record import Record
from bench.sweep import bare_loop_cpu, run_sweep

TARGET = 1.25
CONCURRENCY = 8


@contextmanager
def profiling() -> Iterator[list[cProfile.Profile]]:
    """Profile the calling thread and every thread started inside the block (one profile each)."""
    profiles: list[cProfile.Profile] = []
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    threading.Thread.run = run  # type: ignore[method-assign]
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        threading.Thread.run = original  # type: ignore[method-assign]


def merged(profiles: list[cProfile.Profile]) -> pstats.Stats:
    stats: pstats.Stats | None = None
    for prof in profiles:
        prof.snapshot_stats()  # also for a thread still running (the deadline watcher): what it did so far
        if not prof.stats:  # type: ignore[attr-defined]
            continue
        if stats is None:
            stats = pstats.Stats(prof)
        else:
            stats.add(prof)
    assert stats is not None
    return stats


def group_of(filename: str) -> str:
    """The package a function belongs to: monitor.<sub>, a third-party distribution, or the stdlib."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "monitor" in parts:
        rest = parts[len(parts) - 1 - list(reversed(parts)).index("monitor") :]
        return ".".join(rest[:2]).removesuffix(".py")
    if "bench" in parts:
        return "bench (the loop itself)"
    return "stdlib " + path.stem


def by_group(stats: pstats.Stats) -> dict[str, float]:
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        groups[group_of(filename)] += tt
    return dict(groups)


def top_functions(stats: pstats.Stats, k: int) -> list[tuple[str, float, int]]:
    rows = []
    for (filename, line, name), (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(Path(filename).parts[-2:]) if not filename.startswith("~") else "~"
        rows.append((f"{short}:{line}({name})", tt, nc))
    return sorted(rows, key=lambda r: -r[1])[:k]


def make_due(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tokens SET next_check_at = 0"))
    engine.dispose()


def measure(n: int, rounds: int, top: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ttm-bench-prof") as tmp, database("sqlite", Path(tmp)) as url:
        vault = fill_registry(url, Path(tmp) / "key", n)
        with simulator(n) as sim:

            def product() -> float:
                make_due(url)
                _, cpu, inspected = run_sweep(url, sim.url, vault, CONCURRENCY)
                assert inspected == n, f"{inspected} of {n} inspected"
                return cpu / n

            def bare() -> float:
                return bare_loop_cpu(sim.url, n, CONCURRENCY) / n

            product()  # warm-up: the first sweep of fresh tokens, imports, connections
            pairs = [(bare(), product()) for _ in range(rounds)]
            profiles = {name: profiled(fn) for name, fn in (("bare", bare), ("product", product))}
    ratios = [p / b for b, p in pairs]
    return {
        "tokens": n,
        "rounds": rounds,
        "bare_ms": [b * 1e3 for b, _ in pairs],
        "product_ms": [p * 1e3 for _, p in pairs],
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "bare_median_ms": statistics.median(b for b, _ in pairs) * 1e3,
        "product_median_ms": statistics.median(p for _, p in pairs) * 1e3,
        "groups": {k: by_group(v) for k, v in profiles.items()},
        "top": {k: top_functions(v, top) for k, v in profiles.items()},
    }


def profiled(fn: Callable[[], float]) -> pstats.Stats:
    with profiling() as profiles:
        fn()
    return merged(profiles)


def report(m: dict[str, Any]) -> list[str]:
    n = m["tokens"]
    lines = [
        f"CPU per check, {n} tokens, C={CONCURRENCY}, L=0, {m['rounds']} rounds in turns (ms):",
        "  bare loop  " + " ".join(f"{v:.3f}" for v in m["bare_ms"]),
        "  product    " + " ".join(f"{v:.3f}" for v in m["product_ms"]),
        "  ratio      " + " ".join(f"{v:.2f}" for v in m["ratios"]),
        f"median: {m['product_median_ms']:.3f} ms / {m['bare_median_ms']:.3f} ms;"
        f" median ratio {m['ratio']:.2f}x"
        f" (target <= {TARGET}x: {'pass' if m['ratio'] <= TARGET else 'FAIL'})",
        "",
        f"profile (cProfile, own time per check in µs, grouped by package; {n} checks each):",
        f"  {'group':<34} {'bare':>8} {'product':>8}",
    ]
    bare, prod = m["groups"]["bare"], m["groups"]["product"]
    for g in sorted(set(bare) | set(prod), key=lambda g: -prod.get(g, 0.0)):
        b, p = bare.get(g, 0.0) / n * 1e6, prod.get(g, 0.0) / n * 1e6
        if max(b, p) >= 1.0:
            lines.append(f"  {g:<34} {b:>8.1f} {p:>8.1f}")
    lines.append(f"  {'total':<34} {sum(bare.values()) / n * 1e6:>8.1f} {sum(prod.values()) / n * 1e6:>8.1f}")
    for name in ("product", "bare"):
        lines += ["", f"top functions by own time, {name} (µs per check, calls per check):"]
        for fn, tt, calls in m["top"][name]:
            lines.append(f"  {tt / n * 1e6:>7.1f} {calls / n:>6.2f}  {fn}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=25, help="functions listed per side")
    parser.add_argument("--quick", action="store_true", help="150 tokens, 2 rounds")
    args = parser.parse_args(argv)
    n, rounds = (150, 2) if args.quick else (args.tokens, args.rounds)
    record = Record("profile_check", quick=args.quick)
    m = measure(n, rounds, args.top)
    print("\n".join(report(m)))
    ok = m["ratio"] <= TARGET
    record.row(
        f"CPU per check ({n:,} tokens, C = {CONCURRENCY}, latency 0), median of {rounds} rounds in turns",
        measured=f"{m['product_median_ms']:.3f} ms ({m['ratio']:.2f}x)",
        floor=f"{m['bare_median_ms']:.3f} ms, bare `requests.Session` loop",
        target=f"<= {TARGET}x",
        ok=ok,
        raw={k: m[k] for k in ("tokens", "rounds", "bare_ms", "product_ms", "ratios", "ratio")},
    )
    record.save(
        extra={
            "groups_us_per_check": {k: {g: v / n * 1e6 for g, v in d.items()} for k, d in m["groups"].items()}
        }
    )
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
