"""The handbook (docs/) documents what the program really accepts, offers and exports, and the README is a
screen that leads into it.

- every key of config.example.toml (with its "#~ " lines uncommented) appears in a table of
  docs/configuration.md, and every key in those tables is one the loader accepts (that the example and the
  loader agree in both directions is tests/config/test_config.py's
  test_example_documents_exactly_the_accepted_keys);
- every subcommand of `threads-token-monitor --help` (and every action below it) is in docs/cli.md;
- every metric of SPEC section 6, and every metric family the code exports, is in docs/metrics.md's table;
- every alert the daemon raises and every Prometheus rule in deploy/ is in its alerts tables;
- README.md: at most 250 lines, a picture in its first screen, every relative link and image resolving.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

import pytest
from helpers_config import EXAMPLE, flatten
from helpers_metrics import metrics_inputs

from monitor.cli import build_parser
from monitor.config.load import config_keys, parse_config
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.db import migrate
from monitor.demo import seed
from monitor.metrics.exposition import build_metrics
from monitor.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# SPEC section 6, the contract dashboards and alert rules depend on.
SPEC_METRICS = (
    "threads_token_valid", "threads_token_expires_at_timestamp_seconds",
    "threads_token_data_access_expires_at_timestamp_seconds", "threads_token_issued_at_timestamp_seconds",
    "threads_token_info", "threads_token_scope_granted", "threads_token_last_check_timestamp_seconds",
    "threads_token_last_success_timestamp_seconds", "threads_token_check_success",
    "threads_monitor_checks_total",
    "threads_monitor_check_duration_seconds", "threads_monitor_api_requests_total",
    "threads_monitor_api_usage_percent", "threads_monitor_notifications_total",
    "threads_monitor_notifications_pending", "threads_monitor_refreshes_total", "threads_monitor_tokens",
    "threads_monitor_build_info", "threads_monitor_tokens_expiring",
)  # fmt: skip
# SPEC section 7 plus SourceFailing (section 9).
SPEC_ALERTS = ("TokenExpiring", "TokenDataAccessExpiring", "TokenInvalid", "TokenScopesLost",
               "TokenCheckFailing", "InspectorInvalid", "TokenRefreshFailed", "SourceFailing")  # fmt: skip


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section (up to the next `## `)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def first_cells(block: str) -> list[str]:
    """The key cells of the markdown tables in `block`: the first column, or the second when the first is a
    notifier type (the per-type notifier table)."""
    cells = []
    for line in block.splitlines():
        if not line.startswith("|") or set(line) <= {"|", "-", " "}:
            continue
        columns = [c.strip() for c in line.strip("|").split("|")]
        if columns[0] in ("key", "type"):
            continue
        cells.append(columns[1] if columns[0] in ("slack", "webhook", "email", "alertmanager", "console")
                     else columns[0])  # fmt: skip
    return cells


def readme_config_keys() -> set[str]:
    """Dotted keys as config_keys() spells them, from docs/configuration.md's `## [section]` tables."""
    reference = page("configuration.md")
    parts = re.split(r"^## `\[{1,2}([a-z_]+)\]{1,2}`\n", reference, flags=re.MULTILINE)
    keys: set[str] = set()
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        prefix = f"{name}[]." if name in ("notifiers", "sources") else f"{name}."
        for cell in first_cells(body):
            keys |= {prefix + key for key in re.findall(r"`([a-z_][a-z_.]*)`", cell)}
    return keys


def example_keys() -> set[str]:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    uncommented = "\n".join(line[3:] if line.startswith("#~ ") else line for line in lines)
    return flatten(tomllib.loads(uncommented), "", config_keys())


def test_every_example_key_is_in_a_readme_config_table() -> None:
    missing = example_keys() - readme_config_keys()
    assert not missing, f"keys of config.example.toml missing from docs/configuration.md's tables: {missing}"


def test_every_readme_config_key_is_accepted_by_the_loader() -> None:
    documented = readme_config_keys()
    assert documented, "found no tables in docs/configuration.md"
    assert documented - config_keys() == set(), "docs/configuration.md documents keys the loader rejects"


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """'init', 'apps add', 'tokens history', ...: every leaf subcommand, and every group."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix}{name}")
                found += commands(sub, f"{prefix}{name} ")
    return found


def test_every_command_is_in_the_command_reference() -> None:
    reference = page("cli.md")
    names = commands(build_parser())
    assert {"init", "run", "demo", "apps add", "tokens import", "keys rotate"} <= set(names)
    missing = [name for name in names if f"threads-token-monitor {name}" not in reference]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_every_spec_metric_is_in_the_metrics_table() -> None:
    table = section(page("metrics.md"), "Metrics")
    missing = [name for name in SPEC_METRICS if f"`{name}`" not in table]
    assert not missing, missing


def test_every_exported_metric_is_in_the_metrics_table(tmp_path: Path) -> None:
    config = parse_config({"database": {"url": f"sqlite:///{tmp_path / 'm.sqlite3'}"},
                           "security": {"key_file": str(tmp_path / "secret.key")}})  # fmt: skip
    create_key_file(config.security.key_files[0])
    ctx = Context(config)
    try:
        migrate.upgrade(ctx.engine)
        seed(Simulator(), ctx, now=1_800_000_000.0)  # tokens, so the per-token families are collected too
        registry, _ = build_metrics(metrics_inputs(ctx), version="test")
        exported = {fam.name + ("_total" if fam.type == "counter" else "") for fam in registry.collect()}
    finally:
        ctx.close()
    assert set(SPEC_METRICS) <= exported, set(SPEC_METRICS) - exported
    table = section(page("metrics.md"), "Metrics")
    missing = sorted(name for name in exported if f"`{name}`" not in table)
    assert not missing, f"exported metrics missing from docs/metrics.md: {missing}"


def test_every_alert_and_prometheus_rule_is_in_the_alerts_tables() -> None:
    table = section(page("metrics.md"), "Alerts")
    missing = [name for name in SPEC_ALERTS if f"`{name}`" not in table]
    assert not missing, missing
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8")
    names = re.findall(r"^\s*- alert: (\w+)", rules, re.MULTILINE)
    assert names
    missing = [name for name in names if f"`{name}`" not in table]
    assert not missing, f"Prometheus rules missing from docs/metrics.md: {missing}"


@pytest.mark.parametrize("link", ["docs/systemd.md", "docs/DESIGN.md", "CHANGELOG.md"])
def test_linked_files_exist(link: str) -> None:
    assert f"({link})" in README
    assert (ROOT / link).exists()


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text


# --- the README: one screen that leads into the handbook ------------------------------------------------

README_MAX_LINES = 250
FIRST_SCREEN = 25  # lines of a terminal or a browser window without scrolling


def readme_targets() -> list[str]:
    """Every relative link and image of the README: markdown `[..](x)`, `![..](x)` and HTML `src="x"`."""
    found = re.findall(r"\]\(([^)\s]+)\)", README) + re.findall(r'src="([^"]+)"', README)
    return [t for t in found if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_readme_fits_the_limit_and_shows_a_picture_in_its_first_screen() -> None:
    lines = README.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines, at most {README_MAX_LINES}"
    first = "\n".join(lines[:FIRST_SCREEN])
    images = re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", first)
    assert images, f"no picture in the README's first {FIRST_SCREEN} lines"
    assert all((ROOT / image).is_file() for image in images), images


def test_every_relative_link_of_the_readme_resolves() -> None:
    targets = readme_targets()
    assert len(targets) >= 20
    broken = [t for t in targets if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not broken, f"README links to missing files: {broken}"


def test_the_readme_leads_to_every_page_of_the_handbook() -> None:
    linked = {t.split("#", 1)[0] for t in readme_targets()}
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md") if p.name != "index.md"} | {"docs/runbooks/index.md"}
    assert pages - linked == set(), "pages of docs/ the README does not link"


def test_the_readme_commands_are_make_targets_and_make_demo_installs_the_program_only() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"^\$ make (\S+)", README, re.MULTILINE):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no make target {target}"
    demo = re.search(r"^demo: (\S+)\n", makefile, re.MULTILINE)
    assert demo, "no demo target"
    recipe = re.search(rf"^{re.escape(demo.group(1))}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and "pip install" in recipe.group(1), "the demo's prerequisite installs the program"
    assert "[test]" not in recipe.group(1), "make demo must not install the test tools"


def test_the_guides_config_check_output_is_what_config_check_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/systemd.md shows `config check` of its step-4 file: the same file, checked, prints that line."""
    from monitor.cli import main

    guide = page("systemd.md")
    config = re.search(r"^## 4\. Configure.*?```toml\n(.*?)```", guide, re.S | re.M)
    shown = re.search(r"^(/etc/threads-token-monitor/config\.toml: OK .*)$", guide, re.M)
    assert config and shown
    path = tmp_path / "config.toml"
    path.write_text(config.group(1), encoding="utf-8")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    assert main(["config", "check", str(path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == shown.group(1).replace("/etc/threads-token-monitor/config.toml", str(path))
