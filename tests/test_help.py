"""`--help` is written for users: what each command does in plain words, and example lines to copy."""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from monitor.cli import build_parser
from monitor.commands.config_init import minimal_config
from monitor.config.load import CONFIG_ENV


def parsers(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command and group, by its words ("" is the program itself)."""
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= parsers(sub, f"{path} {name}".strip())
    return found


PARSERS = parsers(build_parser())


def help_text(words: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*words.split(), "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


def test_the_program_says_what_it_does_not_how_it_is_built() -> None:
    text = help_text("")
    assert text.startswith("usage: threads-token-monitor")
    assert "Watch Meta Threads API access tokens" in text
    assert "parse arguments" not in text and "map failures" not in text
    assert "threads-token-monitor config check" in text and "exit codes:" in text


@pytest.mark.parametrize("words", sorted(w for w in PARSERS if w))
def test_every_command_explains_itself_with_an_example(words: str) -> None:
    parser = PARSERS[words]
    assert parser.description, f"`{words}` has no description= for its --help"
    text = help_text(words)
    assert parser.description.splitlines()[0] in text
    examples = text.split("examples:\n", 1)
    assert len(examples) == 2, f"`{words} --help` has no examples (epilog=examples(...))"
    lines = examples[1].splitlines()
    assert lines and all(line.startswith("  threads-token-monitor ") for line in lines if line)
    command = words.split()[0]
    assert any(command in line for line in lines), f"`{words}`: no example uses the command"


def example_lines() -> list[str]:
    lines: set[str] = set()
    for parser in PARSERS.values():
        epilog = parser.epilog or ""
        lines |= {
            line.strip() for line in epilog.splitlines() if line.strip().startswith("threads-token-monitor ")
        }
    return sorted(lines)


@pytest.mark.parametrize("line", example_lines())
def test_every_example_parses(line: str) -> None:
    """An example that argparse refuses is a lie in the help: cut at a shell redirection, then parse."""
    words = shlex.split(re.split(r"\s[<>|]\s", line)[0].split("  ")[0])[1:]
    args = build_parser().parse_args(words)
    assert args.handler


def self_contained(line: str) -> bool:
    """An example that needs no registry, no system path and no other program: run as written."""
    words = shlex.split(re.split(r"\s[<>|]\s", line)[0].split("  ")[0])[1:]
    args = build_parser().parse_args(words)
    outside = ("/etc/", "| less", "systemd-creds", "$(")
    return (
        getattr(args, "no_config", False) and args.command != "demo" and not any(o in line for o in outside)
    )


@pytest.mark.parametrize("line", [line for line in example_lines() if self_contained(line)])
def test_self_contained_examples_run_as_written(line: str, tmp_path: Path) -> None:
    """Pasted into a shell in an empty directory (with a config from `config init` where one is read), each
    of these examples exits 0: the help does not describe a command line that no longer works."""
    script = str(Path(sys.executable).parent / "threads-token-monitor")
    env = {
        "PATH": f"{Path(script).parent}{os.pathsep}{os.defpath}",
        "HOME": str(tmp_path),
        CONFIG_ENV: str(tmp_path / "config.toml"),  # in place of /etc/threads-token-monitor/config.toml
    }
    for folder in (".local/share/bash-completion/completions", ".config/fish/completions", "monitor"):
        (tmp_path / folder).mkdir(parents=True)
    if "config init" not in line:
        (tmp_path / "config.toml").write_text(minimal_config(tmp_path), encoding="utf-8")
    command = line.split("  ")[0]  # the main help's lines end in a description
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{command}\n{done.stderr}"
