"""Threads API faults against the real daemon process: it stays up, records, backs off, budgets, recovers.

One token per fault ("alone"): the simulator answers that token with one fault kind every time. Then the
same daemon sees the faults cleared and must bring every token back to valid without help. The mixed test
runs the simulator in another process, mixes fault kinds on the same calls, and holds the daemon to its
`max_calls_per_hour` while everything fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers_daemon import Fleet, new_secret

from monitor.db.session import transaction
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator import Simulator

from .conftest import ExternalSimulator, Monitor, sample, until

MIN, MAX = 1.0, 60.0  # [schedule] min/max_check_interval: failures back off 1, 2, 4, ... 60 s
SCHEDULE = {"sweep_interval": "1s", "lease": "10s", "min_check_interval": "1s", "max_check_interval": "60s",
            "jitter": 0}  # fmt: skip
THREADS = {"timeout": "1s", "retries": 1, "concurrency": 8}

# name -> (simulator fault, its parameters, what the stored last_error starts with)
ERRORS: dict[str, tuple[str, dict[str, Any], str]] = {
    "timeout": ("latency", {"seconds": 1.5}, "timeout"),
    "reset": ("reset", {}, "connection"),
    "http500": ("http_error", {"status": 500}, "http_5xx"),
    "http502": ("http_error", {"status": 502}, "http_5xx"),
    "http503": ("http_error", {"status": 503}, "http_5xx"),
    "malformed": ("malformed", {}, "malformed"),
    "truncated": ("truncated", {}, "malformed"),
    "oversized": ("oversized", {"size": 3_000_000}, "too_large"),
    "trickle": ("trickle", {"bytes_per_second": 40}, "timeout"),
    "shape-list": ("shape", {"body": [1, 2, 3]}, "malformed"),
    "shape-validity-as-text": ("shape", {"body": {"data": {"is_valid": "yes"}}}, "malformed"),
}
THROTTLE_CODES = (4, 17, 32, 613, 80001)
MIXED: list[tuple[str, dict[str, Any]]] = [
    ("http_error", {"status": 502}),
    ("reset", {}),
    ("malformed", {}),
    ("latency", {"seconds": 1.5}),
    ("truncated", {}),
    ("http_error", {"status": 503}),
    ("trickle", {"bytes_per_second": 40}),
    ("oversized", {"size": 2_000_000}),
]


def rows_by_name(fleet: Fleet, names: list[str]) -> dict[str, Any]:
    rows = fleet.rows()
    return {n: rows[n] for n in names}


def backed_off(row: Any) -> bool:
    """At least two failures in a row, the next check pushed out by min * 2^(failures-1)."""
    if row.consecutive_failures < 2 or row.last_check_at is None:
        return False
    expected = min(MAX, MIN * 2 ** (row.consecutive_failures - 1))
    return abs((row.next_check_at - row.last_check_at) - expected) < 0.01


def test_each_api_fault_alone_is_recorded_backed_off_and_recovered(
    tmp_path: Path, sim: Simulator, fleets: Callable[..., Fleet], start_monitor: Callable[..., Monitor]
) -> None:
    budget = 400
    db = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    fleet = fleets(db, sim, threads={**THREADS, "max_calls_per_hour": budget}, schedule=SCHEDULE)
    fleet.add_app("acme")
    fleet.add_app("busy")  # throttling pauses a whole app: the throttled tokens get an app of their own
    healthy = fleet.add_tokens("acme", 2, prefix="healthy")
    errors: dict[str, str] = {}
    for label, (kind, params, _) in ERRORS.items():
        (name,) = fleet.add_tokens("acme", 1, prefix=f"fault-{label}")
        sim.set_fault(kind, token=fleet.tokens[name], **params)
        errors[name] = label
    throttled: dict[str, int] = {}
    for code in THROTTLE_CODES:
        (name,) = fleet.add_tokens("busy", 1, prefix=f"throttle-{code}")
        sim.set_fault("throttle", token=fleet.tokens[name], code=code, percent=100, minutes=0.05)
        throttled[name] = code

    daemon = start_monitor(fleet)
    until(lambda: all(map(backed_off, rows_by_name(fleet, list(errors)).values())), 60,
          "every faulty token to fail twice in a row with a growing backoff")  # fmt: skip
    rows = fleet.rows()
    for name, label in errors.items():
        row, reason = rows[name], ERRORS[label][2]
        assert row.last_result == "error" and row.last_error.startswith(reason), (label, row.last_error)
        assert row.failing_since is not None and row.last_success_at is None
    until(lambda: all(r.consecutive_failures >= 2 for r in rows_by_name(fleet, list(throttled)).values()), 30,
          "every throttled token to be tried again after its pause")  # fmt: skip
    for name, code in throttled.items():
        row = fleet.rows()[name]
        assert row.last_result == "throttled" and f"code {code}" in row.last_error
        assert row.next_check_at - row.last_check_at >= 3.0, "the usage header's regain time is honoured"
    assert all(r.last_result == "valid" for r in rows_by_name(fleet, healthy).values())

    assert daemon.alive() and daemon.healthz() == 200
    metrics = daemon.metrics()
    assert (sample(metrics, "threads_monitor_checks_total", {"result": "error"}) or 0) >= 2 * len(errors)
    usage = sample(
        metrics, "threads_monitor_api_usage_percent", {"header": "x-app-usage", "metric": "call_count"}
    )
    assert usage == 100.0
    log = daemon.output()
    assert "is throttled: pausing its checks" in log and "Traceback" not in log

    sim.clear_faults()  # the daemon is not told: it must find out by itself
    everyone = [*healthy, *errors, *throttled]
    until(lambda: all(r.last_result == "valid" and r.consecutive_failures == 0
                      for r in rows_by_name(fleet, everyone).values()), 60,
          "every token to be valid again after the faults were cleared")  # fmt: skip
    assert all(r.last_error is None and r.failing_since is None for r in fleet.rows().values())
    assert daemon.alive() and daemon.healthz() == 200
    assert sim.calls() <= budget, "max_calls_per_hour was exceeded"
    assert daemon.stop() == 0
    assert fleet.leases() == 0


# --- mixed faults, simulator in another process ----------------------------------------------------------


@pytest.mark.slow
def test_mixed_faults_keep_the_budget_and_recover(
    tmp_path: Path, start_monitor: Callable[..., Monitor], fleets: Callable[..., Fleet]
) -> None:
    budget, n = 150, 20  # about 90 calls go to the faults and the recovery
    inspector = new_secret("inspmixed")
    tokens = {f"mixed-{i:03d}": new_secret("tok") for i in range(n)}
    doc = {
        "apps": [{"app_id": "mixed", "inspector": inspector}],
        "tokens": [{"token": t, "app_id": "mixed"} for t in tokens.values()],
    }
    external = ExternalSimulator(tmp_path, doc)
    try:
        fleet = external_fleet(tmp_path, external.url, budget, fleets)
        with transaction(fleet.ctx.sessions) as s:
            add_app(s, fleet.ctx.vault, "mixed", inspector, kind="user_token", threads_app_id="mixed", now=0)
            add_tokens(s, fleet.ctx.vault, [NewToken(k, "mixed", v) for k, v in tokens.items()], now=0)
        fleet.tokens.update(tokens)
        # Mixed: under everything a plain 500 (the oldest fault is picked last); over it the kinds take turns,
        # a few calls each, on a slow, half-used API (latency and usage headers combine with any of them).
        external.control("fault", kind="http_error", status=500)
        external.control("fault", kind="latency", seconds=0.05)
        external.control("fault", kind="usage", percent=50, minutes=0)
        for kind, params in MIXED:
            external.control("fault", kind=kind, count=6, **params)
        daemon = start_monitor(fleet)
        until(lambda: all(r.consecutive_failures >= 2 for r in fleet.rows().values()), 60,
              "every token to fail twice under the mixed faults")  # fmt: skip
        assert daemon.alive() and daemon.healthz() == 200
        errors = {r.last_error.split(":")[0] for r in fleet.rows().values()}
        assert len(errors) >= 2, f"the faults were not mixed: {errors}"

        external.control("clear")
        until(lambda: all(r.last_result == "valid" for r in fleet.rows().values()), 60,
              "every token to recover after the faults were cleared")  # fmt: skip
        assert external.control("stats")["total"] <= budget

        # Everything fails again, now for good: retries and backoff must still stop at the hourly budget.
        external.control("fault", kind="http_error", status=503)
        fleet.make_due()
        ceiling = f"max_calls_per_hour ({budget}) reached"
        until(lambda: len(re.findall(re.escape(ceiling), daemon.output())) >= 3, 60,
              "the daemon to run into its call budget")  # fmt: skip
        calls = external.control("stats")["total"]
        assert budget - 2 <= calls <= budget, f"{calls} calls with max_calls_per_hour = {budget}"
        assert daemon.alive() and daemon.healthz() == 200
        assert daemon.stop() == 0
        assert external.control("stats")["total"] <= budget
    finally:
        external.stop()


def external_fleet(tmp_path: Path, sim_url: str, budget: int, fleets: Callable[..., Fleet]) -> Fleet:
    """A fleet whose tokens live in an external simulator (registered by the caller)."""

    class _Url:
        url = sim_url

    return fleets(
        f"sqlite:///{tmp_path / 'monitor.sqlite3'}",
        _Url(),
        threads={**THREADS, "max_calls_per_hour": budget},
        schedule=SCHEDULE,
    )
