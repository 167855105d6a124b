"""The secrets scan itself: it must find a planted secret wherever the suite looks, or it proves nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers_daemon import make_fleet
from sqlalchemy import update

from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator

from .conftest import Evidence


def test_the_scan_finds_a_planted_secret_in_files_texts_and_dumps(
    tmp_path_factory: pytest.TempPathFactory, sim: Simulator
) -> None:
    elsewhere = tmp_path_factory.mktemp("planted")  # not this test's tmp_path: the autouse scan skips it
    fleet = make_fleet(elsewhere, f"sqlite:///{elsewhere / 'monitor.sqlite3'}", sim)
    try:
        fleet.add_app("acme")
        (name,) = fleet.add_tokens("acme", 1)
        evidence = Evidence(elsewhere)
        assert evidence.leaks() == {}
        evidence.dump(fleet.config.database.url)
        assert evidence.leaks() == {}, "encrypted columns are left out of the dump, and hold no plain text"

        token = fleet.tokens[name]
        (elsewhere / "daemon.log").write_text(f"GET /debug_token?input_token={token}\n", encoding="utf-8")
        assert list(evidence.leaks()) == ["daemon.log"]
        evidence.add("metrics scrape", f'threads_token_valid{{token="{fleet.inspectors["acme"]}"}} 1')
        assert any(where.startswith("metrics scrape") for where in evidence.leaks())
        with transaction(fleet.ctx.sessions) as s:
            s.execute(update(Token).values(last_error=f"HTTP 400 for {token}", updated_at=time.time()))
        evidence.dump(fleet.config.database.url)
        assert any(where.startswith("database dump") for where in evidence.leaks())
    finally:
        fleet.close()


def test_the_scan_reads_everything_under_tmp_path(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "stdout.log").write_text("nothing secret here\n", encoding="utf-8")
    assert "nested/stdout.log" in Evidence(tmp_path).files()
