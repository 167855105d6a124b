"""The state rule's SQL has one home (monitor/state/): no other module compares a result with "inspector",
reads `App.inspector_state ==` (the refused-inspector override), or compares a horizon with a threshold of
Horizons in SQL. A new query of a token's state asks monitor.state.sql instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "monitor"
HOME = (ROOT / "state", ROOT / "simulator")  # the simulator is the API, not the monitor: it has its own words
RESTATED = [
    re.compile(r"""(==|!=)\s*["']inspector["']"""),
    re.compile(r"""App\.inspector_state\s*(==|!=|\.in_)"""),
    re.compile(r"""expires_at\s*<=?\s*now\s*\+\s*(h|horizons)\.(expiry|data_access)_"""),
    re.compile(r"""inspector_state\s*==\s*["']invalid["']"""),
]


def test_the_state_rule_is_written_in_monitor_state_only() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{n}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if not any(path.is_relative_to(home) for home in HOME)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(p.search(line) for p in RESTATED)
    ]
    assert found == []


def test_the_guard_sees_a_restated_rule() -> None:
    """The patterns match the forms the rule had before it moved (so the test above can fail)."""
    before = [
        'Token.last_result == "inspector"',
        'App.inspector_state == "invalid"',
        "Token.expires_at <= now + h.expiry_critical",
        'result = "inspector" if app.inspector_state == "invalid" else token.last_result',
    ]
    assert all(any(p.search(line) for p in RESTATED) for line in before)
