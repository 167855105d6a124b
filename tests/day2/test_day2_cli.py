"""The day-2 commands through `monitor.cli.main`, against the simulator: set-token, label, import --replace /
--dry-run / `-` with every bad line at once, apps set-inspector and add --check, the three secret forms,
mutes, alerts list and status filters. Bad input exits 2, names the problem and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_daemon import Fleet, make_fleet, new_secret
from helpers_day2 import APP, InProcessCli
from sqlalchemy import select, update

from monitor.crypto import fingerprint
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def fleet(tmp_path: Path, sqlite_url: str, sim: Simulator) -> Iterator[Fleet]:
    f = make_fleet(tmp_path, sqlite_url, sim)
    f.add_app(APP)
    yield f
    f.close()


@pytest.fixture
def cli(fleet: Fleet, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcessCli:
    return InProcessCli(fleet.config_path, capsys, monkeypatch)


def test_set_token_from_each_secret_form_keeps_history_and_checks_at_once(
    cli: InProcessCli, fleet: Fleet, sim: Simulator, tmp_path: Path
) -> None:
    (name,) = fleet.add_tokens(APP, 1, state="revoked")
    cli.ok("check", name) if False else cli("check", name)  # invalid: exit 1, stored
    strings = [new_secret("tok") for _ in range(3)]
    for s in strings:
        sim.add_token(s, app_id=APP)
    (tmp_path / "new.token").write_text(strings[2] + "\n", encoding="utf-8")
    forms = [
        ("--token-stdin",),
        ("--token-env", "NEW_TOKEN"),
        ("--token-file", str(tmp_path / "new.token")),
    ]
    previous = fingerprint(fleet.tokens[name])
    for form, string in zip(forms, strings, strict=True):
        out = cli.ok("tokens", "set-token", name, *form, stdin=string + "\n", env={"NEW_TOKEN": string})
        assert f"fingerprint {previous} -> {fingerprint(string)}" in out and "checked: ok" in out
        assert string not in out
        previous = fingerprint(string)
    history = json.loads(cli.ok("tokens", "history", name, "--json"))
    replaced = [r for r in history if r["kind"] == "change" and r["result"] == "replaced"]
    assert len(replaced) == 3 and [r["reason"] for r in replaced] == ["via cli"] * 3
    assert any(r["kind"] == "check" and r["result"] == "invalid" for r in history)  # the old string's facts
    code, _, err = cli("tokens", "set-token", name, "--token-stdin", stdin=strings[2])
    assert code == 2 and "already has this string" in err
    code, out, _ = cli("tokens", "set-token", name, "--token-env", "DEAD", env={"DEAD": "THAAnotknownatall1"})
    assert code == 1 and "invalid" in out  # the new string is no good: a script sees it


def test_label_sets_and_removes(cli: InProcessCli, fleet: Fleet) -> None:
    (name,) = fleet.add_tokens(APP, 1)
    assert "team=growth" in cli.ok("tokens", "label", name, "team=growth", "env=prod")
    out = json.loads(cli.ok("tokens", "label", name, "owner=zoë", "--remove", "env", "--json"))
    assert out["labels"] == {"team": "growth", "owner": "zoë"}
    for bad, message in (
        (["severity=x"], "reserved"),
        (["team"], "expected KEY=VALUE"),
        (["--remove", "app"], ""),
    ):
        code, _, err = cli("tokens", "label", name, *bad)
        assert code == 2 and message in err
    history = json.loads(cli.ok("tokens", "history", name, "--json"))
    assert [r["detail"] for r in history if r["kind"] == "change"] == [
        "set owner=zoë; removed env",
        "set env=prod, team=growth",
    ]


def test_a_source_token_is_edited_at_its_source(cli: InProcessCli, fleet: Fleet, tmp_path: Path) -> None:
    (name,) = fleet.add_tokens(APP, 1)
    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(source="app-db"))
    with fleet.config_path.open("a", encoding="utf-8") as fh:
        fh.write(
            '\n[[sources]]\nname = "app-db"\nurl = "sqlite:///' + str(tmp_path / "app.db") + '"\n'
            'app = "growth"\nquery = "SELECT name, token FROM t"\n'
        )
    for args in (("tokens", "label", name, "a=b"), ("tokens", "set-token", name, "--token-stdin")):
        code, _, err = cli(*args, stdin="THAAother1")
        assert code == 2 and "belongs to source 'app-db'" in err
    assert cli.ok("tokens", "mute", name, "--for", "1d")  # a mute changes nothing the source owns


def test_import_reports_every_bad_line_then_replaces_with_dry_run_and_stdin(
    cli: InProcessCli, fleet: Fleet
) -> None:
    fleet.add_tokens(APP, 2, prefix="t")  # t-00000, t-00001
    bad = (
        "name,app,token,team\n"
        "t-00000,growth,THQWJ-new0,a\n"  # exists: refused without --replace
        "n1,growth,,b\n"  # empty token
        "n2,ghost,THQWJ-n2,c\n"  # unknown app
        "n3,growth,THQWJ-n3,d\n"
        "n3,growth,THQWJ-n3b,d\n"  # twice
    )
    before = fleet.rows()
    code, out, err = cli("tokens", "import", "-", stdin=bad)
    assert code == 2 and out == ""
    assert err.splitlines()[1:] == [  # what the file and what the registry say, every line at once
        "<stdin>: line 3: the token is empty",
        "<stdin>: line 4: token 'n2': no app named 'ghost' (see `apps list`)",
        "<stdin>: line 6: token name 'n3' already appears on line 5",
        "<stdin>: 4 problems; nothing was imported",
    ]
    assert err.startswith("threads-token-monitor: <stdin>: line 2: a token named 't-00000' already exists")
    assert fleet.rows().keys() == before.keys()

    good = (
        "name,app,token,team\nt-00000,growth,THQWJ-new0,a\nt-00001,"
        + APP
        + ","
        + fleet.tokens["t-00001"]
        + ",b\nn9,growth,THQWJ-n9,\n"
    )
    dry = json.loads(cli.ok("tokens", "import", "-", "--replace", "--dry-run", "--json", stdin=good))
    assert dry == {"imported": 0, "added": 1, "replaced": 1, "updated": 1, "unchanged": 0, "dry_run": True}
    assert fleet.rows().keys() == before.keys()
    out = cli.ok("tokens", "import", "-", "--replace", stdin=good)
    assert "imported 3 token(s) from <stdin>: 1 added, 1 replaced, 1 updated, 0 unchanged" in out
    rows = fleet.rows()
    assert rows["t-00000"].fingerprint == fingerprint("THQWJ-new0") and rows["t-00000"].labels == {
        "team": "a"
    }
    assert (
        rows["t-00001"].labels == {"team": "b"}
        and rows["t-00001"].fingerprint == before["t-00001"].fingerprint
    )
    assert rows["n9"].labels == {}


def test_apps_set_inspector_is_checked_and_a_refused_one_is_not_stored(
    cli: InProcessCli, fleet: Fleet, sim: Simulator
) -> None:
    fleet.add_tokens(APP, 1)
    with fleet.ctx.sessions() as s:
        before = s.scalar(select(App.inspector_fingerprint).where(App.name == APP))
    code, out, _ = cli(
        "apps", "set-inspector", APP, "--inspector-token-env", "BAD", env={"BAD": "THAAnotaninspector1"}
    )
    assert code == 1 and "not replaced" in out and "refused" in out
    with fleet.ctx.sessions() as s:
        assert s.scalar(select(App.inspector_fingerprint).where(App.name == APP)) == before
    good = new_secret("insp")
    sim.add_app(APP, good, application="App growth")
    out = cli.ok("apps", "set-inspector", APP, "--inspector-token-stdin", stdin=good)
    assert "replaced the inspector" in out and "the inspector credential works" in out and good not in out
    with fleet.ctx.sessions() as s:
        app = s.scalar(select(App).where(App.name == APP))
        assert (
            app is not None and app.inspector_fingerprint == fingerprint(good) and app.inspector_state == "ok"
        )
    code, out, _ = cli(
        "apps", "add", "other", "--inspector-token-env", "BAD", "--check", env={"BAD": "THAAnope1"}
    )
    assert code == 1 and "not added" in out
    assert "other" not in cli.ok("apps", "list")
    secret_file = fleet.config_path.parent / "inspector.txt"
    secret_file.write_text(good, encoding="utf-8")
    assert "checked: the inspector credential works" in cli.ok(
        "apps", "add", "third", "--inspector-token-file", str(secret_file), "--check"
    )
    code, _, err = cli("apps", "add", "fourth", "--inspector-token-stdin", "--app-secret-stdin", stdin="x")
    assert code == 2 and "only one secret can come from standard input" in err


def test_mutes_alerts_list_and_status_filters(cli: InProcessCli, fleet: Fleet) -> None:
    (dead,) = fleet.add_tokens(APP, 1, state="revoked", prefix="dead")
    (fine,) = fleet.add_tokens(APP, 1, prefix="fine")
    cli("check", "--all")
    out = cli.ok("tokens", "mute", dead, "--for", "7d", "--comment", "kept for history")
    assert f"muted token {dead} until" in out
    refused = [
        (["--for=-1d"], "invalid duration"),
        (["--until", "2001-01-01"], "in the past"),
        (["--for", "4000d"], "ten years"),
        (["--until", "tomorrow"], "not a time"),
    ]
    for bad, words in refused:
        code, _, err = cli("tokens", "mute", dead, *bad)
        assert code == 2 and words in err, err
    code, _, err = cli("tokens", "mute", dead, "--for", "1d", "--comment", "THAAlooksliketoken123456")
    assert code == 2 and "THAAlooks" not in err
    status = {r["name"]: r for r in json.loads(cli.ok("status", "--json"))}
    assert status[dead]["muted_until"] and status[fine]["muted_until"] is None
    assert "invalid (revoked), muted" in cli.ok("status", dead)
    assert [r["name"] for r in json.loads(cli.ok("status", "--state", "invalid", "--json"))] == [dead]
    assert [r["name"] for r in json.loads(cli.ok("status", "--state", "ok", "--app", APP, "--json"))] == [
        fine
    ]
    assert cli.ok("status", "--label", "team=nobody") == "no token matches\n"
    assert cli.ok("alerts", "list") == "no alert is firing\n"  # nothing evaluated yet: no daemon ran
    assert "was not muted" in cli.ok("tokens", "unmute", fine)
    assert f"unmuted token {dead}" in cli.ok("tokens", "unmute", dead)
    assert "muted app" in cli.ok("apps", "mute", APP, "--until", "2030-01-01")
    assert "still muted by its app" in cli.ok("tokens", "unmute", dead)
    listed = json.loads(cli.ok("apps", "list", "--json"))
    assert listed[0]["muted_until"] == "2030-01-01T00:00:00Z"
    assert "unmuted app" in cli.ok("apps", "unmute", APP)


def test_a_repeated_label_filter_on_one_key_means_either_value(cli: InProcessCli, fleet: Fleet) -> None:
    """Like a repeated --state: `--label team=x --label team=y` lists both teams, not only the last one."""
    x, y, z = fleet.add_tokens(APP, 3, prefix="lab")
    for name, team in ((x, "x"), (y, "y"), (z, "z")):
        cli.ok("tokens", "label", name, f"team={team}")
    picked = json.loads(cli.ok("status", "--label", "team=x", "--label", "team=y", "--json"))
    assert sorted(r["name"] for r in picked) == sorted([x, y])
    assert cli.ok("status", "--label", "team=x", "--label", "other=1") == "no token matches\n"
