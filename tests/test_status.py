"""monitor.status: what a row says about a token, and the order of the table (worst trouble first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_db import to_head
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from monitor.db.models import App, Token
from monitor.db.session import make_engine
from monitor.state import Horizons
from monitor.status import StatusRow, describe_state, status_rows, status_table

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


def test_status_rows_of_named_tokens_read_only_those_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    to_head(engine)
    app = {"id": 1, "name": "acme", "inspector_kind": "user_token", "inspector_secret": "x",
           "inspector_fingerprint": "0" * 12, "created_at": 0.0}  # fmt: skip
    tokens = [
        {"name": f"t{i}", "app_id": 1, "secret": "x", "fingerprint": "f", "labels": {}, "created_at": 0.0,
         "updated_at": 0.0, "secret_changed_at": 0.0, "next_check_at": 0.0}
        for i in range(50)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(App), [app])
        conn.execute(insert(Token), tokens)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with Session(engine) as s:
        assert [r.name for r in status_rows(s, Horizons(), 0.0, names=["t7", "t3", "nope"])] == ["t3", "t7"]
        assert len(status_rows(s, Horizons(), 0.0)) == 50
    assert "tokens.name IN" in statements[0]
    plan = " ".join(str(r) for r in engine.connect().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + statements[0], ("nope", "t3", "t7")
    ))  # fmt: skip
    assert "ix_tokens_name" in plan or "uq_tokens_name" in plan or "autoindex" in plan
    engine.dispose()


def test_a_token_never_checked_has_unknown_horizons_not_never() -> None:
    """'never' means a horizon that does not expire (SPEC 3); a token not yet checked has no horizon known."""
    fresh = row("fresh", state="unchecked", result=None, last_check_at=None, expires_at=None)
    lines = status_table([fresh, row("forever", expires_at=None)], NOW, colour=False).splitlines()
    assert lines[1].split()[:7] == ["fresh", "a", "never", "checked", "-", "-", "never"]
    assert lines[2].split()[3:5] == ["never", "never"]
    refused = row("refused", state="unchecked", result="inspector", expires_at=None)
    assert status_table([refused], NOW, colour=False).splitlines()[1].split()[5:7] == ["-", "-"]
