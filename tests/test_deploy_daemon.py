"""A real daemon scraped by Debian's Prometheus with deploy/prometheus/prometheus.yml and alerts.yml: the
scrapes are gzip (Prometheus always asks for it), and what it stores is what the rules read (SPEC 17): the
job series (the daemon's `job` as `exported_job`), process_* and python_* series, build_info with its
revision and Python version, registry labels on threads_token_labels, and no `_created` series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers_daemon import make_fleet
from sqlalchemy import update
from support import free_port, wait_until
from test_deploy_stack import DEADLINE, run_prometheus

from monitor.daemon.lifecycle import Daemon
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator


@pytest.fixture
def daemon(tmp_path: Path, sqlite_url: str) -> Iterator[Daemon]:
    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim, metrics={"labels": ["team"]})
        fleet.add_app("growth")
        names = fleet.add_tokens("growth", 2)
        with transaction(fleet.ctx.sessions) as s:
            s.execute(update(Token).where(Token.name == names[0]).values(labels={"team": "growth"}))
        running = Daemon(fleet.config)
        running.start()
        try:
            yield running
        finally:
            running.stop()
            fleet.close()


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    return list(answer["data"]["result"])


def test_prometheus_stores_the_daemons_gzipped_scrapes(tmp_path: Path, daemon: Daemon) -> None:
    target = f"127.0.0.1:{daemon.web.port}"
    with contextmanager(run_prometheus)(tmp_path, target, f"127.0.0.1:{free_port()}") as prometheus:
        # The daemon's own count of what it served: Prometheus's scrapes all came gzipped.
        gzipped = 'threads_monitor_scrapes_total{encoding="gzip"} > 1'
        (served,) = wait_until(lambda: query(prometheus, gzipped), DEADLINE, "two gzipped scrapes stored")
        (identity,) = query(prometheus, 'threads_monitor_scrapes_total{encoding="identity"}')
        assert identity["value"][1] == "0"
        assert served["metric"]["job"] == "threads-token-monitor"

        runs = query(prometheus, 'threads_monitor_job_runs_total{outcome="ok"}')
        assert {"sweep", "alerts", "deliver"} <= {r["metric"]["exported_job"] for r in runs}
        for expr in (
            'threads_monitor_job_interval_seconds{exported_job="sweep"} == 1',
            "threads_monitor_last_sweep_timestamp_seconds > 0",
            "threads_monitor_config_last_reload_successful == 1",
            "process_resident_memory_bytes > 0",
            "process_open_fds / process_max_fds > 0",
            'python_info{implementation="CPython"}',
            'threads_token_labels{label_team="growth"}',
        ):
            assert query(prometheus, expr), expr
        (build,) = query(prometheus, "threads_monitor_build_info")
        assert {"version", "revision", "python_version"} <= set(build["metric"])
        created = requests.get(f"{prometheus}/api/v1/label/__name__/values", timeout=5).json()["data"]
        assert [name for name in created if name.endswith("_created")] == []
        # The health rules see a healthy daemon, once every group has been evaluated over the stored
        # scrapes (an evaluation before the first scrape sees no build_info: Absent pends until the next).
        (stored,) = query(prometheus, "timestamp(threads_monitor_build_info)")
        wait_until(
            lambda: all(_evaluated_after(g, float(stored["value"][1])) for g in rule_groups(prometheus)),
            DEADLINE,
            "every rule group evaluated after the stored scrape",
        )
        alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        assert not [a for a in alerts if a["labels"]["alertname"].startswith("ThreadsTokenMonitor")]


def rule_groups(prometheus: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"][
        "groups"
    ]
    return groups


def _evaluated_after(group: dict[str, Any], moment: float) -> bool:
    """Whether the group's last evaluation (RFC 3339, nanoseconds, UTC) came after `moment` (Unix seconds)."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", group.get("lastEvaluation") or "")
    if not found:
        return False
    whole = datetime.fromisoformat(found[1]).replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{found[2] or 0}") > moment
