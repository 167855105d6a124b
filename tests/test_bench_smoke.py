"""`make bench-quick` as a smoke test: every bench script runs end to end at small sizes, writes its record.

Not a timing assertion: quick sizes are too small for the targets to mean anything (fixed costs dominate),
so only "it ran, printed its table and wrote its JSON record" is checked here; bench/RESULTS.md holds the
real figures. The quick runs use SQLite, except the scripts that need PostgreSQL (scale-out, the large
fleet), which get MONITOR_TEST_POSTGRES_URL as BENCH_SMOKE_POSTGRES_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import BENCHMARKS, NEEDS_POSTGRES  # noqa: E402

NOT_BENCHMARKS = {"__init__", "common", "record", "render", "run", "screenshots"}


def test_every_bench_script_is_in_the_run() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - NOT_BENCHMARKS
    assert scripts == {module for _, module, *_ in BENCHMARKS}


@pytest.mark.timeout(600)
def test_every_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_TEST_POSTGRES_URL"}  # quick: SQLite
    pg = os.environ.get("MONITOR_TEST_POSTGRES_URL")
    if pg:
        env["BENCH_SMOKE_POSTGRES_URL"] = pg
    env["BENCH_RESULTS"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=590,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-4000:]
    for label, *_ in BENCHMARKS:
        if label in NEEDS_POSTGRES and not pg:
            assert f"## {label}: skipped" in out
            continue
        assert f"({label}: " in out, f"{label} did not finish:\n{out[-4000:]}"
        record = tmp_path / f"{label}.quick.json"
        assert record.exists(), f"{label} wrote no record"
        data = json.loads(record.read_text())
        assert data["quick"] and data["rows"], data
    assert "sweep 200 tokens, sqlite" in out
    assert "daemon RSS after a full sweep" in out
    assert "API calls per token per day" in out
    assert set(tmp_path.glob("*.json")) == set(tmp_path.glob("*.quick.json"))  # no full record replaced
