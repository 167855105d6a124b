"""docs/runbooks/: a page for every alert, every rule's runbook_url on an existing page, pages that hold
together as a site, and every `threads-token-monitor ...` command in them one the CLI accepts.

The runbook URLs of deploy/prometheus/alerts.yml (and of the Alertmanager template, for the daemon's own
alerts) are `RUNBOOK_BASE + "<page>/"`: the page `docs/runbooks/<page>.md` of the MkDocs site built from
docs/ (directory URLs, MkDocs' default). deploy/README.md says how to point the base elsewhere.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from monitor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK_BASE = "https://docs.example.com/threads-token-monitor/runbooks/"

# The daemon's own alerts: SPEC section 7, plus SourceFailing (section 9).
DAEMON_ALERTS = ("TokenExpiring", "TokenDataAccessExpiring", "TokenInvalid", "TokenScopesLost",
                 "TokenCheckFailing", "InspectorInvalid", "TokenRefreshFailed", "SourceFailing")  # fmt: skip
SECTIONS = ("## What it means", "## How urgent", "## What to do", "## Fixed when")


def pages() -> dict[str, str]:
    """Every runbook page but the index, by slug."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(RUNBOOKS.glob("*.md")) if p.stem != "index"}


def page_slug(alertname: str) -> str:
    """The page of a daemon alert: its name in kebab case (as the Alertmanager template derives it)."""
    return re.sub(r"([a-z])([A-Z])", r"\1-\2", alertname).lower()


def covered_alerts(text: str) -> set[str]:
    """The alert names a page's `**Alerts:**` paragraph names."""
    match = re.search(r"^\*\*Alerts:\*\*(.*?)(?:\n\n|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "the page has no **Alerts:** paragraph"
    return set(re.findall(r"`(\w+)`", match.group(1)))


def rules() -> list[dict[str, object]]:
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"] if "alert" in rule]


def outside_code(text: str) -> str:
    """The text with fenced code blocks blanked out."""
    return re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.MULTILINE | re.DOTALL)


# --- every alert has its page --------------------------------------------------------------------------


def test_every_daemon_alert_has_the_page_named_after_it() -> None:
    found = pages()
    for alertname in DAEMON_ALERTS:
        slug = page_slug(alertname)
        assert slug in found, f"{alertname}: no docs/runbooks/{slug}.md"
        assert alertname in covered_alerts(found[slug]), f"{slug}.md does not name {alertname}"


def test_every_rule_links_an_existing_page_that_names_it() -> None:
    found = pages()
    named = rules()
    assert len(named) >= 20
    for rule in named:
        url = rule["annotations"]["runbook_url"]  # type: ignore[index]
        assert url.startswith(RUNBOOK_BASE), (rule["alert"], url)
        slug = url.removeprefix(RUNBOOK_BASE)
        assert re.fullmatch(r"[a-z0-9-]+/", slug), f"{rule['alert']}: {url} is not a page's directory URL"
        assert slug[:-1] in found, f"{rule['alert']}: {url} has no docs/runbooks/{slug[:-1]}.md"
        assert rule["alert"] in covered_alerts(found[slug[:-1]]), (
            f"{slug[:-1]}.md does not name {rule['alert']}"
        )


def test_every_page_is_a_runbook_of_some_alert() -> None:
    linked = {str(rule["annotations"]["runbook_url"]).removeprefix(RUNBOOK_BASE)[:-1] for rule in rules()}  # type: ignore[index]
    linked |= {page_slug(name) for name in DAEMON_ALERTS}
    assert set(pages()) == linked


def test_the_kebab_case_of_the_template_and_of_this_test_agree() -> None:
    assert page_slug("TokenDataAccessExpiring") == "token-data-access-expiring"
    assert page_slug("InspectorInvalid") == "inspector-invalid"


# --- the pages hold together as a site -----------------------------------------------------------------


def test_each_page_has_one_title_and_the_four_sections() -> None:
    for path in sorted(RUNBOOKS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        titles = re.findall(r"^# .+", outside_code(text), re.MULTILINE)
        assert text.startswith("# ") and len(titles) == 1, f"{path.name}: one H1, first: {titles}"
        if path.stem != "index":
            headings = re.findall(r"^## .+", outside_code(text), re.MULTILINE)
            assert tuple(headings) == SECTIONS, f"{path.name}: {headings}"


def test_relative_links_resolve_and_the_index_links_every_page() -> None:
    for path in sorted(RUNBOOKS.glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", outside_code(path.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue
            file = target.split("#", 1)[0]
            assert file.endswith(".md"), f"{path.name}: link {target} is not to a Markdown page"
            assert (path.parent / file).resolve().is_file(), f"{path.name}: link {target} leads nowhere"
    index = (RUNBOOKS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+)\.md\)", index))
    assert linked == set(pages())


def test_the_index_table_names_every_alert_once_per_page() -> None:
    index = (RUNBOOKS / "index.md").read_text(encoding="utf-8")
    for name in {*DAEMON_ALERTS, *(str(rule["alert"]) for rule in rules())}:
        assert f"`{name}`" in index, f"{name} is missing from docs/runbooks/index.md"


# --- the commands are the CLI's ------------------------------------------------------------------------

_SHELL_END = {"|", "||", "&&", ";", "<", ">", ">>", "2>", "&"}


def cli_commands(text: str) -> list[list[str]]:
    """The argument lists of every `threads-token-monitor ...` command in `text`: in inline code and in
    code blocks (after a `$ ` prompt or not, after `VAR=value` or `sudo`), cut at a pipe, a redirection or
    the end of the command. A line where the program is only an argument (`journalctl -u
    threads-token-monitor`) is no command of it."""
    # Inline code may wrap onto the next line of the paragraph.
    spans = re.findall(r"`([^`]+)`", outside_code(text))
    candidates = [" ".join(span.split()) for span in spans if re.search(r"threads-token-monitor\s", span)]
    for block in re.findall(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", text, re.MULTILINE | re.DOTALL):
        block = re.sub(r"\\\n\s*", " ", block)  # a line continued with a backslash is one command
        lines = [line.strip() for line in block.splitlines()]
        candidates += [line.removeprefix("$ ") for line in lines if "threads-token-monitor " in line]
    commands = []
    for candidate in candidates:
        lexer = shlex.shlex(candidate, posix=True, punctuation_chars="|&;<>")
        lexer.whitespace_split = True
        words = list(lexer)
        while words and (re.fullmatch(r"\w+=\S*", words[0]) or words[0] == "sudo"):
            words.pop(0)  # `VAR=... threads-token-monitor ...`, `sudo threads-token-monitor ...`
        if words[:1] != ["threads-token-monitor"]:  # e.g. `journalctl -u threads-token-monitor ...`
            continue
        argv = words[1:]
        end = next((i for i, word in enumerate(argv) if word in _SHELL_END), len(argv))
        commands.append(argv[:end])
    return commands


def test_cli_commands_finds_commands_in_prose_and_blocks() -> None:
    text = (
        "Run `threads-token-monitor tokens history NAME`, not `journalctl -u threads-token-monitor -p err`.\n"
        "1. In a list:\n   ```console\n"
        "   $ NEW=x threads-token-monitor tokens set-token NAME --token-stdin < t.txt\n"
        "   $ curl -s 127.0.0.1:9469/healthz\n   threads-token-monitor status | head -1\n   ```\n"
        "Wrapped: `threads-token-monitor alerts\nlist --token NAME`.\n"
    )
    assert cli_commands(text) == [
        ["tokens", "history", "NAME"],
        ["alerts", "list", "--token", "NAME"],
        ["tokens", "set-token", "NAME", "--token-stdin"],
        ["status"],
    ]


def _parses(argv: list[str]) -> str | None:
    """None when the CLI's parser accepts `argv` (`--version` and `--help` end it with exit 0), else the exit
    status it gave."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        return None if exc.code == 0 else f"exit {exc.code}"
    return None


def test_the_parser_check_refuses_what_the_cli_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parses(["tokens", "history", "NAME"]) is None
    assert _parses(["tokens", "set-token", "NAME"]) == "exit 2"  # one of the three secret forms is required
    assert _parses(["status", "--state", "broken"]) == "exit 2"
    assert _parses(["tokens", "frobnicate"]) == "exit 2"
    capsys.readouterr()


def test_every_command_in_the_runbooks_is_one_the_cli_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    used = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for argv in cli_commands(path.read_text(encoding="utf-8")):
            problem = _parses(argv)
            assert problem is None, f"{path.name}: threads-token-monitor {shlex.join(argv)}: {problem}"
            used.append(argv)
    capsys.readouterr()
    assert len(used) >= 60
    # What an operator needs most, each shown somewhere.
    said = {shlex.join(argv) for argv in used}
    for wanted in ("status --state invalid", "tokens history NAME", "tokens set-token NAME --token-stdin",
                   "alerts list", "check NAME", "sources list", "notify test --notifier NOTIFIER",
                   "config check"):  # fmt: skip
        assert wanted in said, wanted
    assert any(argv[:2] == ["tokens", "mute"] for argv in used)
    assert any(argv[:2] == ["apps", "set-inspector"] for argv in used)


# --- facts the pages state, held to the code -----------------------------------------------------------


def test_the_job_table_names_every_job_of_the_daemon() -> None:
    """docs/runbooks/job-failing.md says what stops when each job fails: every job the daemon schedules."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "monitor").rglob("*.py"))
    jobs = set(re.findall(r"\bJob\(\s*\"([\w-]+)\"", source))
    assert {"sweep", "alerts", "deliver"} <= jobs
    table = set(
        re.findall(r"^\| `([\w-]+)` \|", (RUNBOOKS / "job-failing.md").read_text(encoding="utf-8"), re.M)
    )
    assert table == jobs


def test_every_command_in_the_handbook_and_the_readme_is_one_the_cli_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same check over every page of docs/ and the README: a renamed option cannot linger anywhere.
    A synopsis (`[--config PATH]`, `(A | B)`) is a pattern, not a command; a transcript's deliberately
    mistyped command shows the refusal."""
    shown_refused = {"tokens lst"}
    used = 0
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for argv in cli_commands(path.read_text(encoding="utf-8")):
            synopsis = any(re.search(r"^[\[(]|[\])]$|\|", word) for word in argv)
            printed = bool(argv) and re.search(r":$|^\d", argv[0])  # a line of output naming the program
            if synopsis or printed or shlex.join(argv) in shown_refused:
                continue
            problem = _parses(argv)
            assert problem is None, f"{path.name}: threads-token-monitor {shlex.join(argv)}: {problem}"
            used += 1
    capsys.readouterr()
    assert used >= 120
