"""`make bench-quick` as a smoke test: every benchmark runs end to end at small sizes.

Not a timing assertion: quick sizes are too small for the targets to mean anything (fixed costs dominate),
so only "it ran and printed its table" is checked here; bench/RESULTS.md holds the real figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
def test_every_benchmark_runs_in_quick_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_TEST_POSTGRES_URL"}  # quick: SQLite only
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-4000:]
    for name in ("sweep", "scrape", "memory", "apicalls", "alert_latency", "sources"):
        assert f"## {name}:" in out
        assert f"({name}: " in out, f"{name} did not finish:\n{out[-4000:]}"
    assert "sweep 200 tokens, sqlite" in out
    assert "daemon RSS after a full sweep" in out
    assert "API calls per token per day" in out
