"""`--help` is written for users: what each command does in plain words, and example lines to copy."""

from __future__ import annotations

import argparse
import io
import re
import shlex
from contextlib import redirect_stdout

import pytest

from monitor.cli import build_parser


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
