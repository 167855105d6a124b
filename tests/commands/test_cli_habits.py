"""Habits from promtool, amtool and kubectl: `--config`/`-c` before or after any command and subcommand (with
$THREADS_TOKEN_MONITOR_CONFIG and the system path behind it), and "did you mean" for a mistyped command,
subcommand or choice (exit 2). Each config below holds a different app, so the listing shows which was read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_config

from monitor.cli import build_parser, main
from monitor.config.load import CONFIG_ENV, DEFAULT_CONFIG

SCRIPT = Path(sys.executable).parent / "threads-token-monitor"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    """Two registries, "alpha" and "beta", each with one app of its own name."""
    monkeypatch.setenv("APP_SECRET", "app-secret-0123456789")
    found = {}
    for name in ("alpha", "beta"):
        folder = tmp_path / name
        folder.mkdir()
        path = write_config(folder / "config.toml", f"sqlite:///{folder / 'm.sqlite3'}", folder / "k")
        assert run(capsys, "-c", str(path), "init")[0] == 0
        added = run(
            capsys, "apps", "add", name, "--app-id", "1", "--app-secret-env", "APP_SECRET", "-c", str(path)
        )
        assert added[0] == 0, added
        found[name] = path
    return found


def apps(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return [row["name"] for row in json.loads(out)]


@pytest.mark.parametrize(
    "where",
    [
        ["--config", "{beta}", "apps", "list", "--json"],
        ["-c", "{beta}", "apps", "list", "--json"],
        ["apps", "--config", "{beta}", "list", "--json"],
        ["apps", "list", "--config", "{beta}", "--json"],
        ["apps", "list", "--json", "-c", "{beta}"],
        ["apps", "list", "--json", "--config={beta}"],
        ["-c", "{alpha}", "apps", "list", "--json", "-c", "{beta}"],  # the last one given wins
    ],
)
def test_config_anywhere(
    configs: dict[str, Path], capsys: pytest.CaptureFixture[str], where: list[str]
) -> None:
    argv = [word.format(**{k: str(v) for k, v in configs.items()}) for word in where]
    assert apps(capsys, *argv) == ["beta"]


def test_config_after_a_command_without_subcommands_and_after_positionals(
    configs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "--config", str(configs["beta"]), "--json")
    assert code == 0 and json.loads(out) == [], err
    code, out, err = run(capsys, "apps", "remove", "beta", "-c", str(configs["beta"]))
    assert code == 0, err
    assert apps(capsys, "apps", "list", "--json", "-c", str(configs["beta"])) == []
    assert apps(capsys, "apps", "list", "--json", "-c", str(configs["alpha"])) == ["alpha"]


def test_the_environment_and_then_the_system_path_stand_behind_the_option(
    configs: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(configs["alpha"]))
    assert apps(capsys, "apps", "list", "--json") == ["alpha"]
    assert apps(capsys, "apps", "list", "--json", "-c", str(configs["beta"])) == ["beta"]
    monkeypatch.delenv(CONFIG_ENV)
    if not Path(DEFAULT_CONFIG).exists():
        code, _, err = run(capsys, "apps", "list")
        assert code == 2 and DEFAULT_CONFIG in err


def test_every_command_and_subcommand_accepts_the_option() -> None:
    """No parser is missing it, so no position of it is ever refused (help-only groups included)."""
    from monitor.commands.parsing import every_parser

    for parser in every_parser(build_parser()):
        flags = {flag for action in parser._actions for flag in action.option_strings}
        assert {"-c", "--config"} <= flags, parser.prog


@pytest.mark.parametrize(
    ("argv", "expected", "prog"),
    [
        (["stauts"], "unknown command 'stauts'; did you mean 'status'?", "threads-token-monitor"),
        (["tokens", "lst"], "unknown command 'lst'; did you mean 'list'?", "threads-token-monitor tokens"),
        (["-c", "x.toml", "confg", "check"], "unknown command 'confg'; did you mean 'config'?", None),
        (["config", "chekc"], "unknown command 'chekc'; did you mean 'check'?", None),
        (["completion", "bsh"], "invalid choice: 'bsh'; did you mean 'bash'?", None),
        (["run", "--log-format", "jsn"], "invalid choice: 'jsn'; did you mean 'json'?", None),
        (["xyzzy"], "unknown command 'xyzzy' (choose from init, migrate, keys, apps, tokens,", None),
    ],
)
def test_a_mistyped_command_gets_did_you_mean_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str, prog: str | None
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert expected in err, err
    if prog:
        assert f"{prog}: error: {expected}" in err
    assert "Traceback" not in err


def test_the_console_script_suggests_and_takes_the_option_after_the_command(configs: dict[str, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    done = subprocess.run([str(SCRIPT), "tokens", "lst"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and "did you mean 'list'?" in done.stderr
    done = subprocess.run(
        [str(SCRIPT), "apps", "list", "--json", "-c", str(configs["alpha"])],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)[0]["name"] == "alpha", done.stderr


def test_an_empty_config_path_is_a_usage_error_not_the_default(
    configs: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-c "$CONF"` with CONF unset must not quietly read $THREADS_TOKEN_MONITOR_CONFIG or the system file."""
    monkeypatch.setenv(CONFIG_ENV, str(configs["alpha"]))
    for argv in (["-c", "", "apps", "list"], ["apps", "list", "--config="]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "--config: the path is empty" in err, (argv, err)
