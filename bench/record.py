"""The benchmark record as data: every bench script writes its figures through `Record` as one JSON file.

`bench/results/<script>.json` holds the newest full run of each script (command, commit, date, nproc, load
average, the raw figures, each row's target and pass/fail); `python -m bench.render` renders
bench/RESULTS.md's tables from them, and tests/test_bench_results.py holds the two equal. A `--quick` run
writes `<script>.quick.json` instead (not rendered, not committed), so a smoke test never replaces a record.
`BENCH_RESULTS=<dir>` writes elsewhere (the smoke test does).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def results_dir() -> Path:
    return Path(os.environ.get("BENCH_RESULTS") or RESULTS)


def commit() -> str:
    """The commit the run measured, `-dirty` when the tree had uncommitted changes to tracked files."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "monitor",
                "bench",
                ":!bench/results",
                ":!bench/RESULTS.md",  # rendered from the records: not what a run measures
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "FAIL")


class Record:
    """One run of one bench script: rows as they are measured, then `save()`."""

    def __init__(
        self, script: str, *, quick: bool = False, argv: list[str] | None = None, module: str | None = None
    ) -> None:
        """`script` names the record; `module` the bench module run (when it differs: dbwork_latency)."""
        self.script, self.quick = script, quick
        args = [("$POSTGRES" if "://" in a else a) for a in (sys.argv[1:] if argv is None else argv)]
        self.command = " ".join([".venv/bin/python", "-m", f"bench.{module or script}", *args])
        self.started = time.time()
        self.load_start = os.getloadavg()[0]
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def row(
        self,
        what: str,
        *,
        measured: str,
        floor: str = "-",
        target: str = "-",
        ok: bool | None = None,
        raw: dict[str, Any] | None = None,
        derived: str | None = None,
    ) -> None:
        """One table row. `derived`: how the row was computed from other rows by arithmetic (rendered)."""
        self.rows.append(
            {
                "what": what,
                "measured": measured,
                "floor": floor,
                "target": target,
                "result": _verdict(ok),
                "derived": derived,
                "raw": raw or {},
            }
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def passed(self) -> bool:
        return all(r["result"] != "FAIL" for r in self.rows)

    def data(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "script": self.script,
            "command": self.command,
            "commit": commit(),
            "date": f"{datetime.fromtimestamp(self.started, UTC):%Y-%m-%dT%H:%MZ}",
            "seconds": round(time.time() - self.started, 1),
            "nproc": os.cpu_count(),
            "load_average": [round(self.load_start, 1), round(os.getloadavg()[0], 1)],
            "python": platform.python_version(),
            "quick": self.quick,
            "passed": self.passed,
            "rows": self.rows,
            "notes": self.notes,
            "extra": extra or {},
        }

    def save(self, extra: dict[str, Any] | None = None) -> Path:
        folder = results_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.script}{'.quick' if self.quick else ''}.json"
        path.write_text(json.dumps(self.data(extra), indent=1, sort_keys=True) + "\n")
        print(f"(record: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})", flush=True)
        return path


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready part of a result dict (numbers, strings, booleans, None)."""
    return {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool, type(None)))}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
