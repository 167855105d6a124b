"""gzip on /metrics (SPEC 17): bytes on the wire with and without it, and the CPU it costs.

The daemon's own /metrics path (MetricsRegistry.render) on a registry of N tokens with every series
(`per_token = "all"`, scopes, one registry label exported): the body as sent without gzip and with it, the
CPU of a scrape of an unchanged registry (cached token part, only the live part compressed) and of one after
a change (the token part rendered and compressed again), and what compressing the token part costs at
levels 1, 6 (the daemon's) and 9. CPU time of this process, median of `--repeat` runs.

    .venv/bin/python bench/scrape_gzip.py                   # 10,000 tokens (about a minute)
    .venv/bin/python bench/scrape_gzip.py --tokens 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import update

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scrape import fill  # noqa: E402
from monitor.config.load import DatabaseConfig, MetricsConfig, default_config  # noqa: E402
from monitor.context import Context  # noqa: E402
from monitor.db.models import Token  # noqa: E402
from monitor.db.session import make_engine  # noqa: E402
from monitor.metrics.cache import GZIP_LEVEL  # noqa: E402
from monitor.metrics.exposition import MetricsRegistry  # noqa: E402


def cpu(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of `fn` (process time: the machine may be shared)."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def measure(tokens: int, repeat: int) -> dict[str, Any]:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        engine = make_engine(url)
        fill(engine, tokens, 0.1, now)
        with engine.begin() as conn:
            conn.execute(update(Token).values(labels={"team": "growth"}))
        engine.dispose()
        metrics = MetricsConfig(per_token="all", scopes=True, labels=("team",))
        config = replace(default_config(), database=DatabaseConfig(url=url), metrics=metrics)
        ctx = Context(config, clock=lambda: now)
        registry = MetricsRegistry(ctx)
        plain = registry.render()
        packed = registry.render(gzipped=True)
        assert gzip.decompress(packed).count(b"\n") == plain.count(b"\n"), "the gzip body differs"
        token_part = registry.cache.token_part(False)

        def changed(gzipped: bool) -> Callable[[], bytes]:
            def scrape() -> bytes:
                registry.cache._cached.clear()  # as after a check changed a token
                return registry.render(gzipped=gzipped)

            return scrape

        row = {
            "tokens": tokens,
            "samples": plain.count(b"\n") - plain.count(b"\n#"),
            "identity_bytes": len(plain),
            "gzip_bytes": len(packed),
            "unchanged_identity_s": cpu(registry.render, repeat),
            "unchanged_gzip_s": cpu(lambda: registry.render(gzipped=True), repeat),
            "changed_identity_s": cpu(changed(False), repeat),
            "changed_gzip_s": cpu(changed(True), repeat),
        }
        for level in (1, GZIP_LEVEL, 9):
            row[f"level{level}_s"] = cpu(lambda lv=level: gzip.compress(token_part, lv), repeat)  # type: ignore[misc]
            row[f"level{level}_bytes"] = len(gzip.compress(token_part, level))
        ctx.close()
        return row


def table(row: dict[str, Any]) -> str:
    r = row
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
    ratio = r["identity_bytes"] / r["gzip_bytes"]
    lines = [
        f"/metrics, {r['tokens']:,} tokens, every series ({r['samples']:,} samples)",
        f"  bytes on the wire: identity {mb(r['identity_bytes'])}, gzip {mb(r['gzip_bytes'])}"
        f" ({ratio:.1f}x smaller)",
        f"  CPU, unchanged registry (cached): identity {r['unchanged_identity_s']:.3f} s,"
        f" gzip {r['unchanged_gzip_s']:.3f} s",
        f"  CPU, after a change (render again): identity {r['changed_identity_s']:.3f} s,"
        f" gzip {r['changed_gzip_s']:.3f} s",
    ]
    for lv in (1, GZIP_LEVEL, 9):
        size = mb(r[f"level{lv}_bytes"])
        lines.append(f"  compressing the token part at level {lv}: {r[f'level{lv}_s']:.3f} s, {size}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(table(measure(args.tokens, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
