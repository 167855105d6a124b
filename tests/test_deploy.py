"""deploy/: the Prometheus rules pass promtool, and the rules and the dashboard use only SPEC metric names."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support import tool

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"

# SPEC section 6, exactly. A histogram is scraped as _bucket, _sum and _count.
SPEC_METRICS = {
    "threads_token_valid",
    "threads_token_expires_at_timestamp_seconds",
    "threads_token_data_access_expires_at_timestamp_seconds",
    "threads_token_issued_at_timestamp_seconds",
    "threads_token_info",
    "threads_token_scope_granted",
    "threads_token_last_check_timestamp_seconds",
    "threads_token_last_success_timestamp_seconds",
    "threads_token_check_success",
    "threads_monitor_checks_total",
    "threads_monitor_check_duration_seconds",
    "threads_monitor_api_requests_total",
    "threads_monitor_api_usage_percent",
    "threads_monitor_notifications_total",
    "threads_monitor_notifications_pending",
    "threads_monitor_refreshes_total",
    "threads_monitor_tokens",
    "threads_monitor_build_info",
    "threads_monitor_tokens_expiring",
}
HISTOGRAMS = {"threads_monitor_check_duration_seconds"}
ALLOWED = (
    SPEC_METRICS
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"up"}
)

# Everything else an expression may name: PromQL functions, aggregations, keywords.
PROMQL_WORDS = {
    "abs", "absent", "and", "avg", "bool", "bottomk", "by", "ceil", "count", "delta", "deriv",
    "group_left", "group_right", "histogram_quantile", "idelta", "ignoring", "increase", "irate",
    "label_replace", "max", "max_over_time", "min", "min_over_time", "offset", "on", "or", "rate",
    "round", "scalar", "sort", "sort_desc", "sum", "time", "topk", "unless", "vector", "without",
}  # fmt: skip

# Label matchers and strings hold label names and values, not metric names.
_MATCHERS = re.compile(r'\{[^}]*\}|"[^"]*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w$.])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (template variables like $app are ignored)."""
    stripped = _RANGE.sub(" ", _GROUPING.sub(" ", _MATCHERS.sub(" ", expr)))
    stripped = re.sub(r"\$\{?\w+\}?", " ", stripped)
    return {word for word in _IDENT.findall(stripped) if word not in PROMQL_WORDS}


def test_metric_names_parser() -> None:
    expr = (
        'bottomk(20, max by (token, app) (threads_token_expires_at_timestamp_seconds{app=~"$app"}) - time())'
        " and on (token) rate(threads_monitor_checks_total[5m]) > 2 * 86400"
    )
    assert metric_names(expr) == {
        "threads_token_expires_at_timestamp_seconds",
        "threads_monitor_checks_total",
    }


def _promtool() -> str:
    return tool("promtool")


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", str(RULES_TEST)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULES_TEST.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _rule_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(alert name, expression) pairs; a tiny reader for this file's layout, so no YAML dependency."""
    name = ""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("- alert:"):
            name = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("expr:"):
            inline = stripped.split(":", 1)[1].strip()
            if inline not in ("|", ">", "|-", ">-"):
                yield name, inline
                continue
            indent = len(line) - len(line.lstrip())
            body = []
            for follow in lines[index + 1 :]:
                if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                    break
                body.append(follow.strip())
            yield name, " ".join(body)


def test_rules_use_only_spec_metrics() -> None:
    rules = list(_rule_blocks(RULES.read_text()))

    assert len(rules) >= 14
    for name, expr in rules:
        assert metric_names(expr) <= ALLOWED, (name, expr)
    names = [name for name, _ in rules]
    assert len(names) == len(set(names))
    for required in (
        "ThreadsTokenExpiringWarning",
        "ThreadsTokenExpiringCritical",
        "ThreadsTokenDataAccessExpiringWarning",
        "ThreadsTokenDataAccessExpiringCritical",
        "ThreadsTokenInvalid",
        "ThreadsTokenCheckFailing",
        "ThreadsTokenCheckStale",
        "ThreadsTokenMonitorDown",
        "ThreadsTokenMonitorAbsent",
    ):
        assert required in names
    # Every rule has a promtool unit test.
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert set(names) <= tested


def _walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))


def test_dashboard_uses_only_spec_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["schemaVersion"] == 39
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "label_values(threads_token_info, app)" in json.dumps(variables["app"]["query"])

    used: set[str] = set()
    panels = list(_walk_panels(dashboard["panels"]))
    for panel in panels:
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= SPEC_METRICS | {"threads_monitor_check_duration_seconds_bucket"}, panel["title"]
            used |= names
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    titles = {panel["title"] for panel in panels}
    for title in ("Tokens by state", "Soonest expiry", "Invalid tokens", "Check errors", "API usage percent"):
        assert title in titles
    assert {
        "threads_monitor_tokens",
        "threads_monitor_tokens_expiring",
        "threads_monitor_refreshes_total",
    } <= used
