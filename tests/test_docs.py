"""The README documents what the program really accepts, offers and exports.

- every key of config.example.toml (with its "#~ " lines uncommented) appears in a configuration table of the
  README, and every key in those tables is one the loader accepts (that the example and the loader agree in
  both directions is tests/config/test_config.py's test_example_documents_exactly_the_accepted_keys);
- every subcommand of `threads-token-monitor --help` (and every action below it) is in the command reference;
- every metric of SPEC section 6, and every metric family the code exports, is in the metrics table;
- every alert the daemon raises and every Prometheus rule in deploy/ is in the alerts tables.
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
README = (ROOT / "README.md").read_text(encoding="utf-8")

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
    assert match, f"README has no '## {heading}' section"
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
    """Dotted keys as config_keys() spells them, from the README's `### [section]` tables."""
    reference = section(README, "Configuration reference")
    parts = re.split(r"^### `\[{1,2}([a-z_]+)\]{1,2}`\n", reference, flags=re.MULTILINE)
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
    assert not missing, (
        f"keys of config.example.toml missing from the README's configuration tables: {missing}"
    )


def test_every_readme_config_key_is_accepted_by_the_loader() -> None:
    documented = readme_config_keys()
    assert documented, "found no configuration tables in the README"
    assert documented - config_keys() == set(), "README documents keys the loader rejects"


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
    reference = section(README, "Command reference")
    names = commands(build_parser())
    assert {"init", "run", "demo", "apps add", "tokens import", "keys rotate"} <= set(names)
    missing = [name for name in names if f"threads-token-monitor {name}" not in reference]
    assert not missing, f"commands missing from the README's command reference: {missing}"


def test_every_spec_metric_is_in_the_metrics_table() -> None:
    table = section(README, "Metrics")
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
    table = section(README, "Metrics")
    missing = sorted(name for name in exported if f"`{name}`" not in table)
    assert not missing, f"exported metrics missing from the README: {missing}"


def test_every_alert_and_prometheus_rule_is_in_the_alerts_tables() -> None:
    table = section(README, "Alerts")
    missing = [name for name in SPEC_ALERTS if f"`{name}`" not in table]
    assert not missing, missing
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8")
    names = re.findall(r"^\s*- alert: (\w+)", rules, re.MULTILINE)
    assert names
    missing = [name for name in names if f"`{name}`" not in table]
    assert not missing, f"Prometheus rules missing from the README: {missing}"


@pytest.mark.parametrize("link", ["docs/systemd.md", "docs/DESIGN.md", "CHANGELOG.md"])
def test_linked_files_exist(link: str) -> None:
    assert f"({link})" in README
    assert (ROOT / link).exists()


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
