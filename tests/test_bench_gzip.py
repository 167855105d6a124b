"""bench/scrape_gzip.py runs (a smoke test at a small size: the figures are in bench/RESULTS.md, never
asserted as timings here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gzip_benchmark_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "bench/scrape_gzip.py", "--quick"],
        cwd=ROOT,
        env={**os.environ, "BENCH_RESULTS": str(tmp_path)},  # its record, not bench/results/'s
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bytes on the wire: identity" in proc.stdout and "x smaller" in proc.stdout
    assert (tmp_path / "scrape_gzip.quick.json").is_file()
