"""`check --user-id ID [--app NAME]`: every token last seen with that Threads user, checked now."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import make_fleet

from monitor.cli import main
from monitor.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def test_check_by_user_id_checks_that_user_only(
    tmp_path: Path, sqlite_url: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = make_fleet(tmp_path, sqlite_url, sim)
    try:
        fleet.add_app("acme")
        fleet.add_app("other")
        mine = fleet.add_tokens("acme", 2, prefix="mine", user_id="111")
        theirs = fleet.add_tokens("acme", 1, prefix="theirs", user_id="222")
        elsewhere = fleet.add_tokens("other", 1, prefix="elsewhere", user_id="111")
        cfg = ["--config", str(fleet.config_path)]
        assert main([*cfg, "check", "--user-id", "111"]) == 2  # nothing checked yet: no user id known
        assert main([*cfg, "check", "--all"]) == 0
        sim.reset_counters()
        sim.update_token(fleet.tokens[mine[0]], state="revoked")
        capsys.readouterr()

        assert main([*cfg, "check", "--user-id", "111", "--app", "acme"]) == 1  # one of them is revoked now
        out = capsys.readouterr().out
        assert all(n in out for n in mine) and theirs[0] not in out and elsewhere[0] not in out
        assert fleet.calls() == {**dict.fromkeys(mine, 1), theirs[0]: 0, elsewhere[0]: 0}
        assert main([*cfg, "check", "--user-id", "111"]) == 1  # without --app: every app's
        assert fleet.calls(elsewhere) == {elsewhere[0]: 1}
        assert fleet.rows()[mine[0]].last_result == "invalid"
    finally:
        fleet.close()
