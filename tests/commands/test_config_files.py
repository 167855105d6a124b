"""`config check FILE`, `config init [PATH]`, `config example`, the next step when there is no config at all,
and config.example.toml passing its own check in the environment its header names (through the console
script, as a user runs it)."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers_config import EXAMPLE

from monitor.cli import main
from monitor.commands.config_init import _state_dir
from monitor.config import load_config
from monitor.config.load import CONFIG_ENV, DEFAULT_CONFIG
from monitor.config.model import DEFAULT_STATE_DIR

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "threads-token-monitor"
PACKAGED = ROOT / "monitor" / "config" / "config.example.toml"
GUIDE = ROOT / "docs" / "systemd.md"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def script(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != CONFIG_ENV and k != "CREDENTIALS_DIRECTORY"}
    return subprocess.run(
        [str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=cwd,
    )


# --- config check FILE ---------------------------------------------------------------------------------


def test_config_check_takes_the_file_as_an_argument_or_from_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[http]\nlisten = "127.0.0.1:9469"\n', encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nlistn = 1\n", encoding="utf-8")
    assert run(capsys, "config", "check", str(good))[:2] == (0, f"{good}: OK (0 notifiers, 0 sources)\n")
    code, _, err = run(capsys, "config", "check", str(bad))
    assert code == 2 and f'{bad}: http.listn: unknown key (did you mean "listen"?)' in err
    assert run(capsys, "--config", str(good), "config", "check")[0] == 0
    assert run(capsys, "config", "check", "-c", str(bad))[0] == 2
    # The argument names the file to check, whatever --config says.
    assert run(capsys, "-c", str(bad), "config", "check", str(good))[0] == 0
    code, out, _ = run(capsys, "config", "check", str(bad), "--json")
    assert code == 2 and json.loads(out)["path"] == str(bad)


# --- the next step when there is no configuration ------------------------------------------------------


def test_a_missing_config_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = tmp_path / "etc" / "config.toml"
    for argv in (["status", "-c", str(nowhere)], ["config", "check", str(nowhere)]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        assert "No such file or directory" in err
        assert f"threads-token-monitor config init {nowhere}" in err and "--config PATH" in err, err
    # A file that exists but is wrong gets its problems, not advice to create it.
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n", encoding="utf-8")
    assert "config init" not in run(capsys, "status", "-c", str(bad))[2]


# --- config init ---------------------------------------------------------------------------------------


def test_config_init_writes_a_private_minimal_config_that_passes_check_and_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "config.toml"
    done = script("config", "init", str(path))  # the console script; the steps after it run main() in-process
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # made for it: private too
    config = load_config(path, env={})
    assert config.database.url == f"sqlite:///{path.parent / 'monitor.sqlite3'}"
    assert config.security.key_files == (path.parent / "secret.key",)
    assert [n.type for n in config.notifiers] == ["console"]
    assert run(capsys, "config", "check", str(path))[1] == f"{path}: OK (1 notifier, 0 sources)\n"
    # The next steps name this file and run as printed.
    steps = [line.split("#")[0].strip() for line in done.stdout.splitlines() if line.startswith("  ")]
    assert steps and all(f"--config {path}" in step for step in steps)
    for step in steps[:2]:  # config check, init
        code, _, err = run(capsys, *shlex.split(step)[1:])
        assert code == 0, (step, err)
    assert stat.S_IMODE((path.parent / "secret.key").stat().st_mode) == 0o600
    assert run(capsys, "status", "-c", str(path))[0] == 0


def test_config_init_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n", encoding="utf-8")
    path.chmod(0o644)
    code, out, err = run(capsys, "config", "init", str(path))
    assert code == 2 and "exists" in err and "--force" in err and out == ""
    assert path.read_text(encoding="utf-8") == "# mine\n"
    code, out, err = run(capsys, "config", "init", str(path), "--force")
    assert code == 0, err
    assert "[database]" in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tightened, whatever it was
    assert run(capsys, "config", "init", str(tmp_path))[0] == 2  # a directory is not a file


def test_config_init_writes_where_the_config_is_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PATH: --config, then $THREADS_TOKEN_MONITOR_CONFIG; next steps then need no --config."""
    by_env = tmp_path / "env.toml"
    monkeypatch.setenv(CONFIG_ENV, str(by_env))
    code, out, err = run(capsys, "config", "init")
    assert code == 0 and by_env.exists(), err
    assert "--config" not in out and "threads-token-monitor init" in out
    by_option = tmp_path / "option.toml"
    assert run(capsys, "-c", str(by_option), "config", "init")[0] == 0 and by_option.exists()


def test_config_init_state_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, state = tmp_path / "config.toml", tmp_path / "state with space"
    assert run(capsys, "config", "init", str(path), "--state-dir", str(state))[0] == 0
    assert load_config(path, env={}).database.url == f"sqlite:///{state}/monitor.sqlite3"
    # The system path keeps its registry where systemd's StateDirectory= puts it; elsewhere beside the file.
    assert _state_dir(None, Path(DEFAULT_CONFIG)) == DEFAULT_STATE_DIR
    assert _state_dir(None, tmp_path / "x.toml") == tmp_path


def test_config_init_refuses_a_place_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "config", "init", str(blocker / "config.toml"))
    assert code == 2 and "not written" in err and f"{blocker} is not a directory" in err  # the database
    state = ["--state-dir", str(tmp_path / "state")]
    code, _, err = run(capsys, "config", "init", str(blocker / "config.toml"), *state)
    assert code == 2 and f"cannot write {blocker / 'config.toml'}" in err and "Traceback" not in err


# --- config.example.toml -------------------------------------------------------------------------------


def header_list(text: str, what: str) -> list[str]:
    """The names the example's header gives for `what` ("environment", "files"); [] for "none"."""
    match = re.search(rf"^#   {what}: (.*)$", text, re.M)
    assert match, f"the header of config.example.toml names no {what}"
    names = match.group(1).split()
    return [] if names == ["none"] else names


def active_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_example_passes_config_check_in_the_environment_its_header_names(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    variables, files = header_list(text, "environment"), header_list(text, "files")
    active = active_lines(text)
    # The header names every variable and secret file the active keys read, and nothing more.
    assert set(variables) == set(re.findall(r'^\w+_env = "(\w+)"', active, re.M))
    secret_files = {f for key, f in re.findall(r'^(\w+)_file = "([^"]+)"', active, re.M) if key != "key"}
    assert set(files) == secret_files
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in files:
        (credentials / name).write_text("secret-from-a-file\n", encoding="utf-8")
    env = {name: "https://hooks.slack.invalid/T0/B0/x" for name in variables}
    env["CREDENTIALS_DIRECTORY"] = str(credentials)
    done = script("config", "check", str(EXAMPLE), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{EXAMPLE}: OK")
    # Without them it says which key wants what, and fails.
    if variables:
        missing = script("config", "check", str(EXAMPLE))
        assert missing.returncode == 2 and all(name in missing.stderr for name in variables)


def test_the_example_filters_nothing_quietly_and_agrees_with_the_systemd_guide() -> None:
    parsed = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert all("match" not in notifier for notifier in parsed["notifiers"])
    guide = re.search(
        r"^## 4\. Configure.*?```toml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S | re.M
    )
    assert guide, "docs/systemd.md step 4 has no toml block"
    assert tomllib.loads(guide.group(1))["security"]["key_file"] == parsed["security"]["key_file"]


def test_the_example_ships_in_the_package_and_config_example_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert PACKAGED.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8"), (
        "monitor/config/config.example.toml is stale: `make schema` copies config.example.toml there"
    )
    code, out, _ = run(capsys, "config", "example")
    assert code == 0 and out == EXAMPLE.read_text(encoding="utf-8")
    assert "config example" in run(capsys, "config", "--help")[1]
