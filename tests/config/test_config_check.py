"""`config check` and `config schema` through `monitor.cli.main`: what a user types and sees, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.schema import PACKAGED_SCHEMA

GOOD = """
[database]
url = "sqlite:///{dir}/monitor.sqlite3"
[security]
key_file = "{dir}/not-created-yet.key"
[[notifiers]]
name = "ops"
type = "slack"
webhook_url_env = "SLACK_URL"
[[notifiers]]
name = "stdout"
type = "console"
[[sources]]
name = "app"
url_file = "source-url"
query = "SELECT name, token FROM t"
app = "growth"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.example/T0")
    (tmp_path / "source-url").write_text("sqlite:///app.db\n", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(GOOD.format(dir=tmp_path), encoding="utf-8")
    return path


def test_a_good_file_is_ok_and_nothing_is_created(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in good.parent.iterdir())
    code, out, err = run(capsys, "--config", str(good), "config", "check")
    assert (code, err) == (0, "")
    assert out == f"{good}: OK (2 notifiers, 1 source)\n"
    # No database, no key file (one that does not exist yet is fine: `init` creates it).
    assert sorted(p.name for p in good.parent.iterdir()) == before


def test_json_output(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(good), "config", "check", "--json")
    assert code == 0
    assert json.loads(out) == {"path": str(good), "ok": True, "notifiers": 2, "sources": 1}


def test_every_problem_with_its_key_path_and_exit_2(
    good: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_URL")
    (good.parent / "source-url").unlink()
    text = good.read_text(encoding="utf-8").replace('name = "stdout"', 'name = "stdout"\ncolour = "red"')
    good.write_text(text + '\n[threads]\ntimeout = "10m"\n', encoding="utf-8")
    code, out, err = run(capsys, "--config", str(good), "config", "check")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert f"{good}: notifiers[0].webhook_url_env: environment variable SLACK_URL is not set" in lines
    assert any(line.startswith(f"{good}: sources[0].url_file: cannot read ") for line in lines)
    assert f"{good}: notifiers[1].colour: unknown key" in lines
    assert f"{good}: threads.timeout: must be at most 5m, got 10m" in lines
    assert lines[-1] == f"{good}: 4 problems, not valid"
    code, out, _ = run(capsys, "--config", str(good), "config", "check", "--json")
    assert code == 2 and len(json.loads(out)["problems"]) == 4


def test_a_missing_or_malformed_file_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.toml"), "config", "check")
    assert code == 2 and "cannot read the configuration file" in err
    (tmp_path / "bad.toml").write_text("[threads\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(tmp_path / "bad.toml"), "config", "check")
    assert code == 2 and "invalid TOML" in err


def test_schema_prints_the_packaged_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No configuration file is read: --config may point nowhere.
    code, out, _ = run(capsys, "--config", str(tmp_path / "absent.toml"), "config", "schema")
    assert code == 0
    assert out == PACKAGED_SCHEMA.read_text(encoding="utf-8")
    assert json.loads(out)["properties"]["notifiers"]["type"] == "array"
