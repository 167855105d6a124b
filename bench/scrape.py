"""Scrape benchmark: the token collector under `generate_latest` against the rendering floor.

The floor is prometheus_client's `generate_latest` rendering the very same samples from ready-made
families, so the ratio shows what the database read and the family building add on top of the render.

    .venv/bin/python bench/scrape.py                      # both targets (about a minute)
    .venv/bin/python bench/scrape.py --tokens 10000 --mode all --repeat 5
    .venv/bin/python bench/scrape.py --tokens 100000 --mode problems
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, insert, update

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config.load import Config, DatabaseConfig, MetricsConfig, default_config  # noqa: E402
from monitor.context import Context  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.models import App, Token  # noqa: E402
from monitor.db.session import make_engine  # noqa: E402
from monitor.metrics.exposition import (  # noqa: E402
    MetricsInputs,
    MetricsRegistry,
    MetricsSettings,
    TokenCollector,
)

DAY = 86400.0
SCOPES = "threads_basic threads_content_publish threads_manage_insights"
TARGET_RATIO = 1.25
TARGET_PROBLEMS_SECONDS = 0.2
TARGET_UNCHANGED_SECONDS = 0.02  # a cached scrape (nothing stored changed since the last one)
TARGET_CHANGED_RATIO = 1.1  # a scrape after a check changed one token, against the render floor


def token_rows(n: int, trouble: float, now: float, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`n` checked tokens; a `trouble` fraction is invalid, failing or about to expire, the rest healthy."""
    rnd = random.Random(seed)
    for i in range(n):
        healthy = rnd.random() >= trouble
        kind = "ok" if healthy else ("invalid", "failing", "expiring")[i % 3]
        valid = kind != "invalid"
        yield {
            "name": f"token-{i:06d}",
            "app_id": 1 + i % 3,
            "secret": "bench",
            "fingerprint": f"{i:012x}",
            "labels": {},
            "auto_refresh": False,
            "source": "bench" if i % 2 else None,
            "created_at": now - 5 * DAY,
            "updated_at": now - DAY,
            "secret_changed_at": now - 5 * DAY,
            "next_check_at": now + 3600,
            "consecutive_failures": 1 if kind == "failing" else 0,
            "refresh_failures": 0,
            "last_check_at": now - rnd.uniform(0, 3600),
            "last_success_at": now - rnd.uniform(3600, 7200),
            "last_result": {"failing": "error", "invalid": "invalid"}.get(kind, "valid"),
            "observed_at": now - 7200,
            "is_valid": valid,
            "expires_at": now + (DAY if kind == "expiring" else rnd.uniform(20, 60) * DAY) if valid else None,
            "data_access_expires_at": now + rnd.uniform(30, 90) * DAY if valid else None,
            "issued_at": now - rnd.uniform(1, 30) * DAY,
            "scopes": SCOPES,
            "token_type": "USER",
            "application": "Bench App",
            "user_id": str(17841400000000000 + i),
            "invalid_reason": "expired" if kind == "invalid" else None,
        }


def fill(engine: Engine, n: int, trouble: float, now: float) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        apps = [
            {
                "id": k,
                "name": f"app-{k}",
                "inspector_kind": "user_token",
                "inspector_secret": "bench",
                "inspector_fingerprint": "0" * 12,
                "inspector_state": "ok",
                "created_at": now,
            }
            for k in (1, 2, 3)
        ]
        conn.execute(insert(App), apps)
        batch: list[dict[str, Any]] = []
        for row in token_rows(n, trouble, now):
            batch.append(row)
            if len(batch) == 5000:
                conn.execute(insert(Token), batch)
                batch = []
        if batch:
            conn.execute(insert(Token), batch)


class Ready:
    """A collector that yields ready-made families: the rendering floor."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _materialised(family: Metric) -> Metric:
    """A copy of the family with its samples in a plain list: what a ready-made family looks like."""
    copy = Metric(family.name, family.documentation, family.type)
    copy.samples = list(family.samples)
    return copy


def _medians(fns: Sequence[Callable[[], object]], repeat: int) -> list[float]:
    """Median CPU seconds of each function, run in turns so that a burst of load hits them alike.

    CPU time of this process, not wall time: the benchmark machine may be shared, and the scrape is
    single-threaded CPU work (SQLite runs in-process).
    """
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times, strict=True):
            started = time.process_time()
            fn()
            out.append(time.process_time() - started)
    return [statistics.median(t) for t in times]


def measure(url: str | None, tokens: int, mode: str, trouble: float, repeat: int) -> list[dict[str, Any]]:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = url or f"sqlite:///{tmp}/bench.sqlite3"
        engine = make_engine(db_url)
        started = time.perf_counter()
        fill(engine, tokens, trouble, now)
        filled = time.perf_counter() - started
        engine.dispose()
        config: Config = replace(
            default_config(),
            database=DatabaseConfig(url=db_url),
            metrics=MetricsConfig(per_token=mode, scopes=True),
        )
        ctx = Context(config, clock=lambda: now)
        inputs = MetricsInputs(ctx.engine, MetricsSettings.of(config), clock=ctx.clock)
        collector = TokenCollector(inputs)
        live = CollectorRegistry()
        live.register(collector)
        families = [_materialised(f) for f in collector.collect()]
        samples = sum(len(f.samples) for f in families)
        floor = CollectorRegistry()
        floor.register(Ready(families))  # type: ignore[arg-type]
        runs = [
            lambda: generate_latest(live),
            lambda: generate_latest(floor),
            lambda: list(collector.collect()),
        ]
        cached = MetricsRegistry(inputs)
        cached.render()
        runs += [cached.render, lambda: _check_then_render(ctx, cached)]
        scrape, render, build, unchanged, changed = _medians(runs, repeat)
        ctx.close()
    what = f"{mode} @ {tokens:,} tokens ({samples:,} samples)"
    rows = [
        {"what": f"fill db {what}", "seconds": filled, "ratio": None, "target": "-", "pass": None},
        {
            "what": f"floor: render ready-made families, {what}",
            "seconds": render,
            "ratio": 1.0,
            "target": "-",
            "pass": None,
        },
        {
            "what": f"collect() alone (db reads), {what}",
            "seconds": build,
            "ratio": build / render,
            "target": "-",
            "pass": None,
        },
    ]
    scrape_row: dict[str, Any] = {
        "what": f"scrape generate_latest(registry), {what}",
        "seconds": scrape,
        "ratio": scrape / render,
    }
    if mode == "all":
        scrape_row.update(target=f"<= {TARGET_RATIO}x floor", ok=scrape / render <= TARGET_RATIO)
    else:
        scrape_row.update(target=f"< {TARGET_PROBLEMS_SECONDS} s", ok=scrape < TARGET_PROBLEMS_SECONDS)
    scrape_row["pass"] = scrape_row.pop("ok")
    rows.append(scrape_row)
    return rows + _cached_rows(what, mode, unchanged, changed, render)


def _check_then_render(ctx: Context, cached: MetricsRegistry) -> bytes:
    """What a check does to the stored state (one token's last check moves), then a scrape."""
    with ctx.engine.begin() as conn:
        conn.execute(update(Token).where(Token.name == "token-000000").values(last_check_at=time.time()))
    return cached.render()


def _cached_rows(
    what: str, mode: str, unchanged: float, changed: float, render: float
) -> list[dict[str, Any]]:
    """The daemon's /metrics path (MetricsRegistry.render): cached, and after a change."""
    return [
        {
            "what": f"/metrics unchanged (cached), {what}",
            "seconds": unchanged,
            "ratio": unchanged / render,
            "target": f"<= {TARGET_UNCHANGED_SECONDS} s" if mode == "all" else "-",
            "pass": unchanged <= TARGET_UNCHANGED_SECONDS if mode == "all" else None,
        },
        {
            "what": f"/metrics after a check changed a token, {what}",
            "seconds": changed,
            "ratio": changed / render,
            "target": f"<= {TARGET_CHANGED_RATIO}x floor" if mode == "all" else "-",
            "pass": changed / render <= TARGET_CHANGED_RATIO if mode == "all" else None,
        },
    ]


def run(quick: bool = False, url: str | None = None) -> list[dict[str, Any]]:
    """Both targets: all series at 10,000 tokens, problems at 100,000 (quick: a tenth of each)."""
    scale = 10 if quick else 1
    repeat = 3 if quick else 5
    return [
        *measure(url, 10_000 // scale, "all", 0.01, repeat),
        *measure(url, 100_000 // scale, "problems", 0.01, repeat),
    ]


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        f"| {'what':<68} | {'seconds':>8} | {'ratio':>6} | {'target':<16} | result |",
        f"|{'-' * 70}|{'-' * 10}|{'-' * 8}|{'-' * 18}|--------|",
    ]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        verdict = {True: "pass", False: "FAIL", None: "-"}[r["pass"]]
        out.append(
            f"| {r['what']:<68} | {r['seconds']:>8.3f} | {ratio:>6} | {r['target']:<16} | {verdict:<6} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=None, help="tokens (default: both standard runs)")
    parser.add_argument("--mode", choices=("all", "problems"), default="all")
    parser.add_argument("--trouble", type=float, default=0.01, help="fraction of tokens in trouble")
    parser.add_argument("--db", default="sqlite", help='"sqlite" (a temporary file) or a SQLAlchemy URL')
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the standard sizes")
    args = parser.parse_args(argv)
    url = None if args.db == "sqlite" else args.db
    if args.tokens is None:
        rows = run(quick=args.quick, url=url)
    else:
        rows = measure(url, args.tokens, args.mode, args.trouble, args.repeat)
    print(table(rows))
    from bench.record import Record, plain

    rec = Record("scrape", quick=args.quick)
    for r in rows:
        ratio = f" ({r['ratio']:.2f}x)" if r["ratio"] is not None else ""
        rec.row(
            f"{r['what']} ({args.db.split(':')[0]}, CPU seconds, median of runs in turns)",
            measured=f"{r['seconds']:.3f} s{ratio}",
            floor="the floor row above" if r["ratio"] not in (None, 1.0) else "-",
            target=r["target"],
            ok=r["pass"],
            raw=plain(r),
        )
    rec.save()
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
