"""The command line of SPEC 16: apps of each platform, and what `tokens history` shows of their tokens."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "day2"))
from helpers_daemon import Fleet, make_fleet  # noqa: E402
from helpers_day2 import InProcessCli  # noqa: E402

from monitor.simulator import Simulator  # noqa: E402

DAY = 86400.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.add_app("2", platform="facebook", app_secret="fb-secret-0123456789abcdef", application="Pages")
        s.add_app("3", platform="instagram", app_secret="ig-secret-0123456789abcdef", application="Insta")
        yield s


@pytest.fixture
def cli(
    tmp_path: Path,
    sqlite_url: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InProcessCli]:
    hosts = {f"platforms.{p}": {"base_url": sim.base_url(p)} for p in ("facebook", "instagram")}
    fleet: Fleet = make_fleet(tmp_path, sqlite_url, sim, **hosts)
    yield InProcessCli(fleet.config_path, capsys, monkeypatch)
    fleet.close()


def test_apps_of_each_platform_are_added_checked_and_listed(cli: InProcessCli) -> None:
    env = {"FB_SECRET": "fb-secret-0123456789abcdef", "IG_SECRET": "ig-secret-0123456789abcdef"}
    out = cli.ok("apps", "add", "pages", "--platform", "facebook", "--app-id", "2",
                 "--app-secret-env", "FB_SECRET", "--check", env=env)  # fmt: skip
    assert "added facebook app pages" in out and "works" in out and "fb-secret-0123456789abcdef" not in out
    # Instagram's debug_token refuses everyone (code 100, subcode 33): not a refused inspector.
    out = cli.ok("apps", "add", "insta", "--platform", "instagram", "--app-id", "3",
                 "--app-secret-env", "IG_SECRET", "--check", env=env)  # fmt: skip
    assert "added instagram app insta" in out and "refused" not in out
    code, out, err = cli("apps", "add", "other", "--platform", "tiktok", "--app-id", "4",
                         "--app-secret-env", "FB_SECRET", env=env)  # fmt: skip
    assert code == 2 and "tiktok" in err
    listed = {a["name"]: a["platform"] for a in json.loads(cli.ok("apps", "list", "--json"))}
    assert listed == {"pages": "facebook", "insta": "instagram"}
    assert "instagram" in cli.ok("apps", "list").splitlines()[1]


def test_history_shows_a_page_token_that_never_expires_with_its_page_and_targets(
    cli: InProcessCli, sim: Simulator
) -> None:
    cli.ok("apps", "add", "pages", "--platform", "facebook", "--app-id", "2", "--app-secret-env", "S",
           env={"S": "fb-secret-0123456789abcdef"})  # fmt: skip
    grant = [{"scope": "pages_manage_posts", "target_ids": ["111"]}, {"scope": "pages_show_list"}]
    sim.add_token("EAAG-page-token", app_id="2", type="PAGE", granular_scopes=grant, metadata={"sso": "ios"},
                  scopes=["pages_manage_posts", "pages_show_list"])  # fmt: skip
    cli.ok("tokens", "add", "page", "--app", "pages", "--token-env", "T", env={"T": "EAAG-page-token"})
    cli.ok("check", "page")
    (row,) = json.loads(cli.ok("tokens", "history", "page", "--json"))
    assert row["type"] == "PAGE" and row["profile_id"] == "2000" and row["metadata"] == {"sso": "ios"}
    assert row["expires_at"] is None and row["expiry"] == "never" and row["expiry_source"] == "never"
    assert row["granular_scopes"] == [
        {"scope": "pages_manage_posts", "target_ids": ["111"]},
        {"scope": "pages_show_list"},
    ]
    table = cli.ok("tokens", "history", "page").splitlines()
    assert "never" in table[1] and "page 2000" in table[1] and "pages_manage_posts on 111" in table[1]
