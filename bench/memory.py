"""Daemon memory: RSS of a real `threads-token-monitor run` process after a full sweep of N tokens.

Target: under 200 MB with 100,000 tokens, and growth from 10,000 to 100,000 tokens under 3x.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import ROOT, bench_main, database, fill_registry, simulator
from monitor.db.models import Token
from monitor.db.session import make_engine


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def daemon_rss(n: int) -> tuple[float, float, float]:
    """Run the daemon until every token has been checked once: (RSS MB, peak MB, sweep seconds)."""
    with tempfile.TemporaryDirectory(prefix="ttm-bench-mem") as tmp_s, database("sqlite", Path(tmp_s)) as url:
        tmp = Path(tmp_s)
        fill_registry(url, tmp / "key", n)
        with simulator(n) as sim:
            cfg = tmp / "config.toml"
            cfg.write_text(
                f'[database]\nurl = "{url}"\n[security]\nkey_file = "{tmp / "key"}"\n'
                f'[threads]\nbase_url = "{sim.url}"\nconcurrency = 32\nmax_calls_per_hour = 10000000\n'
                '[schedule]\nsweep_interval = "2s"\n[http]\nlisten = "127.0.0.1:0"\n'
                '[log]\nlevel = "warning"\n'
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(cfg), "run"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "daemon.log").open("w"),
            )
            engine = make_engine(url)
            started = time.monotonic()
            try:
                deadline = started + 900
                while time.monotonic() < deadline and proc.poll() is None:
                    with engine.connect() as conn:
                        left = conn.scalar(
                            select(func.count()).select_from(Token).where(Token.last_check_at.is_(None))
                        )
                    if left == 0:
                        break
                    time.sleep(0.5)
                took = time.monotonic() - started
                if proc.poll() is not None:
                    raise RuntimeError("the daemon exited:\n" + (tmp / "daemon.log").read_text()[-2000:])
                rss, peak = rss_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(30)
                engine.dispose()
    return rss, peak, took


def run(quick: bool = False) -> list[dict]:
    small, large = (100, 400) if quick else (10_000, 100_000)
    rss_s, peak_s, _ = daemon_rss(small)
    rss_l, peak_l, took = daemon_rss(large)
    growth = rss_l / rss_s
    return [
        {
            "benchmark": f"daemon RSS after a full sweep, {large} tokens",
            "measured": f"{rss_l:.0f} MB (peak {peak_l:.0f})",
            "floor": "-",
            "ratio": "-",
            "target": "< 200 MB",
            "result": "pass" if peak_l < 200 else "FAIL",
        },
        {
            "benchmark": f"RSS growth {small} -> {large} tokens",
            "measured": f"{rss_s:.0f} -> {rss_l:.0f} MB",
            "floor": "-",
            "ratio": f"{growth:.2f}x",
            "target": "< 3x",
            "result": "pass" if growth < 3 else "FAIL",
        },
        {
            "benchmark": f"full sweep of {large} tokens by the daemon (L=0, C=32)",
            "measured": f"{took:.0f} s",
            "floor": "-",
            "ratio": "-",
            "target": "(information)",
            "result": "-",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
