"""bench/RESULTS.md's tables are rendered from the bench scripts' JSON records (bench/record.py), never typed.

Like config.schema.json's test: the generated part of RESULTS.md must equal `python -m bench.render`'s
output for the records in bench/results/, so a new record without a render (or a hand edit) fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.record import RESULTS, Record  # noqa: E402
from bench.render import DOC, generated_part, records, render  # noqa: E402

KEYS = {"script", "command", "commit", "date", "nproc", "load_average", "rows", "passed", "quick"}


def test_results_md_is_the_rendering_of_the_records() -> None:
    assert generated_part(DOC.read_text()) == render(records()), "run `.venv/bin/python -m bench.render`"


def test_every_record_says_how_when_and_where_it_was_measured() -> None:
    for path in RESULTS.glob("*.json"):
        if path.name.endswith(".quick.json"):
            continue
        data = json.loads(path.read_text())
        assert set(data) >= KEYS, f"{path.name} lacks {KEYS - set(data)}"
        assert data["script"] == path.stem and not data["quick"]
        assert data["command"].startswith(".venv/bin/python -m bench.")
        for row in data["rows"]:
            assert row["result"] in ("pass", "FAIL", "-"), row
        assert data["passed"] == all(row["result"] != "FAIL" for row in data["rows"])


def test_a_record_renders_its_rows_and_says_which_are_derived(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path))
    rec = Record("example", argv=["--tokens", "10"])
    rec.row("a rate", measured="10.0 checks/s", target=">= 5", ok=True, raw={"rate": 10.0})
    rec.row("a ratio", measured="2.00x", target=">= 3x", ok=False, derived="rate / rate of one")
    rec.save()
    data = records(tmp_path)
    assert [r["script"] for r in data] == ["example"]
    assert data[0]["passed"] is False and data[0]["rows"][0]["raw"] == {"rate": 10.0}
    text = render(data)
    assert "`.venv/bin/python -m bench.example --tokens 10`" in text
    assert "| a rate | 10.0 checks/s | - | >= 5 | pass |" in text
    assert "| a ratio *(derived: rate / rate of one)* | 2.00x | - | >= 3x | FAIL |" in text
    assert "**a target missed**" in text
