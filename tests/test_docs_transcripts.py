"""No sample output in docs/ differs from what the code prints: every block marked
`<!-- transcript: SCENARIO -->` is run again (tests/docs_transcripts.py, the script `make docs-transcripts`
runs) and compared line by line. A page that differs fails with its diff; `make docs-transcripts` rewrites
it."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from docs_transcripts import BLOCK, ROOT, pages, regenerate, render, run, world_for

PAGES = pages()


def commands_shown() -> set[str]:
    """The first word after the program of every `$ ` line of every transcript."""
    shown = set()
    for path in PAGES:
        for block in BLOCK.finditer(path.read_text(encoding="utf-8")):
            for line in block.group("body").splitlines():
                words = line.split()
                if words[:1] == ["$"] and "threads-token-monitor" in words:
                    rest = words[words.index("threads-token-monitor") + 1 :]
                    shown.add(
                        next((w for w in rest if not w.startswith("-") and not w.endswith(".toml")), "")
                    )
    return shown


def test_the_handbook_has_transcripts_of_the_everyday_commands() -> None:
    shown = commands_shown()
    assert {"init", "apps", "tokens", "check", "status", "alerts", "config"} <= shown, shown
    assert {"cli.md", "day-2.md", "demo.md"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_transcript_is_what_the_code_prints(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    new = regenerate(text)
    diff = "".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True), "page", "the code"))
    assert new == text, (
        f"{path.relative_to(ROOT)} differs from what the code prints (make docs-transcripts):\n{diff}"
    )


def test_a_changed_line_of_output_is_caught() -> None:
    """The comparison can fail: one digit of a fingerprint changed in a transcript is a difference."""
    body = "$ threads-token-monitor tokens list\n"
    printed = render("registry", body)
    assert "4dcbb5c6b698" in printed  # acme's fixed string, fingerprinted
    page = (
        f"<!-- transcript: registry -->\n```console\n{printed.replace('4dcbb5c6b698', '4dcbb5c6b699')}```\n"
    )
    assert regenerate(page) != page


def test_exit_codes_and_stdin_reach_the_command() -> None:
    with world_for("fresh") as world:
        assert "OK" in run(world, "threads-token-monitor config check")
        assert run(world, "echo $?") == "0\n"
        assert "broken.toml: " in run(world, "threads-token-monitor config check broken.toml")
        assert run(world, "echo $?") == "2\n"
        run(world, "threads-token-monitor init")
        out = run(world, "THREADS_APP_SECRET=... threads-token-monitor apps add growth --app-id "
                         "123456789012345 --app-secret-env THREADS_APP_SECRET")  # fmt: skip
        assert out.startswith("added threads app growth")
        assert "added token acme" in run(
            world, "threads-token-monitor tokens add acme --app growth --token-stdin < acme.txt"
        )
