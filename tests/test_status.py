"""monitor.status: what a row says about a token, and the order of the table (worst trouble first)."""

from __future__ import annotations

import pytest

from monitor.status import StatusRow, describe_state, status_table

NOW = 1_800_000_000.0


def row(name: str = "t", state: str = "ok", result: str | None = "valid", **kw: object) -> StatusRow:
    base: dict = dict(
        name=name,
        app="a",
        state=state,
        expires_at=NOW + 30 * 86400,
        data_access_expires_at=None,
        last_check_at=NOW - 60,
        last_result=result,
        last_error=None,
        scopes=("threads_basic",),
        source=None,
        reason=None,
    )
    base.update(kw)
    return StatusRow(**base)


@pytest.mark.parametrize(
    ("r", "text"),
    [
        (row(state="invalid", result="invalid", reason="revoked"), "invalid (revoked)"),
        (row(state="warning", result="error"), "warning (check failing)"),
        (row(state="unchecked", result="inspector"), "unchecked (inspector problem)"),
        (row(state="unchecked", result="throttled"), "unchecked (throttled)"),
        (row(state="unchecked", result="error"), "unchecked (check failing)"),
        (row(state="unchecked", result=None, last_check_at=None), "never checked"),
        (row(), "ok"),
    ],
)
def test_describe_state(r: StatusRow, text: str) -> None:
    assert describe_state(r) == text


def test_table_plain_when_not_coloured_and_tinted_when_asked() -> None:
    rows = [row("bad", state="invalid", result="invalid", reason="expired"), row("good")]
    plain = status_table(rows, NOW, colour=False)
    assert "\033[" not in plain
    lines = plain.splitlines()
    assert lines[0].split()[:3] == ["NAME", "APP", "STATE"]
    assert "in 30 days" in lines[2] and "1 minute ago" in lines[2] and "manual" in lines[2]
    tinted = status_table(rows, NOW, colour=True)
    assert "\033[31m" in tinted and "\033[32m" in tinted
