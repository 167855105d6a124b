"""deploy/prometheus and deploy/grafana: the rules and the scrape config pass the real promtool, every rule
has a firing and a quiet unit test, the rules and the dashboard use only the metric names of the contract,
and the memory rules follow the unit's limits."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from support import tool

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
UNIT = ROOT / "systemd" / "threads-token-monitor.service"
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
# SPEC sections 15 and 17: the monitor watched (jobs, sweeps, reloads, deliveries, registry labels), and the
# process collector every exporter has.
MONITOR_METRICS = {
    "threads_token_labels",
    "threads_monitor_alerts_firing",
    "threads_monitor_job_runs_total",
    "threads_monitor_job_last_success_timestamp_seconds",
    "threads_monitor_last_sweep_timestamp_seconds",
    "threads_monitor_config_last_reload_successful",
    "threads_monitor_config_last_reload_success_timestamp_seconds",
    "threads_monitor_notification_duration_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
}
# Added to the contract by deploy/ (issue 29): each job's interval in seconds, so that a rule can tell "no
# success for 3 of its intervals" for jobs that run every 2 s and jobs that run daily.
PROPOSED_METRICS = {"threads_monitor_job_interval_seconds"}
CONTRACT = SPEC_METRICS | MONITOR_METRICS | PROPOSED_METRICS
HISTOGRAMS = {"threads_monitor_check_duration_seconds", "threads_monitor_notification_duration_seconds"}
ALLOWED = (
    CONTRACT | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")} | {"up"}
)

# Everything else an expression may name: PromQL functions, aggregations, keywords.
PROMQL_WORDS = {
    "abs", "absent", "and", "avg", "bool", "bottomk", "by", "ceil", "changes", "clamp_min", "count",
    "delta", "deriv", "group_left", "group_right", "histogram_quantile", "idelta", "ignoring", "increase",
    "irate", "label_replace", "max", "max_over_time", "min", "min_over_time", "offset", "on", "or", "rate",
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


def test_promtool_check_config_reads_the_scrape_config_and_its_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "config", str(SCRAPE_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_promtool_check_config_would_refuse_a_broken_one(tmp_path: Path) -> None:
    """The check above can fail: a scrape timeout longer than the interval is refused."""
    broken = SCRAPE_CONFIG.read_text(encoding="utf-8").replace("scrape_timeout: 10s", "scrape_timeout: 45s")
    (tmp_path / "prometheus.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "alerts.yml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [_promtool(), "check", "config", "prometheus.yml"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "scrape timeout greater than scrape interval" in result.stdout + result.stderr


def test_the_scrape_config_scrapes_the_daemons_default_listen_address_and_loads_the_rules() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [job for job in config["scrape_configs"] if "threads" in job["job_name"]]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9469"]  # [http] listen's default (SPEC 5)
    assert job.get("honor_labels", False) is False  # the rules read the daemon's `job` as `exported_job`


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_rules_use_only_contract_metrics() -> None:
    rules = _rules()

    assert len(rules) >= 23
    for rule in rules:
        assert metric_names(rule["expr"]) <= ALLOWED, (rule["alert"], rule["expr"])
        assert set(rule["annotations"]) >= {"summary", "description", "runbook_url"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical", "none"), rule["alert"]
    names = [rule["alert"] for rule in rules]
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
        # SPEC 17
        "ThreadsTokenMonitorJobFailing",
        "ThreadsTokenMonitorJobStale",
        "ThreadsTokenMonitorSweepBehind",
        "ThreadsTokenMonitorConfigReloadFailed",
        "ThreadsTokenMonitorMemoryNearMax",
        "ThreadsTokenMonitorFdsNearLimit",
        "Watchdog",
    ):
        assert required in names
    # SPEC 17: one rule shows the registry label join, so Alertmanager can route per team.
    joined = [rule["alert"] for rule in rules if "group_left (label_team)" in rule["expr"]]
    assert "threads_token_labels" in next(r["expr"] for r in rules if r["alert"] == "ThreadsTokenInvalid")
    assert joined == ["ThreadsTokenInvalid"]


def test_every_rule_has_a_firing_and_a_quiet_unit_test() -> None:
    """alerts_test.yml shows each rule firing and, at another time or with other series, not firing (the
    Watchdog fires always, by design)."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _rules()}
    assert names <= firing
    assert names - {"Watchdog"} <= quiet


def _systemd_bytes(value: str) -> int:
    """A systemd memory size ("512M", "1G"): the suffixes count in 1024s."""
    number, suffix = re.fullmatch(r"(\d+)([KMGT]?)", value.strip()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** " KMGT".index(suffix or " ")


def test_the_memory_rules_follow_the_units_limits() -> None:
    """ThreadsTokenMonitorMemoryHigh and ...NearMax alert at 80% of the unit's MemoryHigh= and MemoryMax=: a
    change to one without the other fails here."""
    unit = dict(re.findall(r"^(MemoryHigh|MemoryMax)=(\S+)$", UNIT.read_text(encoding="utf-8"), re.MULTILINE))
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in _rules()}
    assert f"process_resident_memory_bytes > 0.8 * {_systemd_bytes(unit['MemoryHigh'])} " in (
        exprs["ThreadsTokenMonitorMemoryHigh"] + " "
    )
    assert f"process_resident_memory_bytes > 0.8 * {_systemd_bytes(unit['MemoryMax'])} " in (
        exprs["ThreadsTokenMonitorMemoryNearMax"] + " "
    )
    assert _systemd_bytes("512M") == 536870912


def _walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))


def test_dashboard_uses_only_contract_metrics() -> None:
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
            assert names <= ALLOWED - {"up"}, panel["title"]
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
        # the monitor's own health (SPEC 17)
        "threads_monitor_job_runs_total",
        "threads_monitor_job_last_success_timestamp_seconds",
        "threads_monitor_last_sweep_timestamp_seconds",
        "threads_monitor_config_last_reload_successful",
        "process_resident_memory_bytes",
        "process_open_fds",
    } <= used
    # process_* series come from every exporter: the dashboard keeps the monitor's.
    for panel in panels:
        for target in panel.get("targets", []):
            if "process_" in target["expr"]:
                assert "and on (instance, job) threads_monitor_build_info" in target["expr"], panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _walk_panels(json.loads(DASHBOARD.read_text())["panels"]):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
