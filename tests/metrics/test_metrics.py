"""The metrics of SPEC section 6 from stored state: per-token series, fleet counts, modes, event counters.

Rows are written straight into a migrated database (every backend configured), the clock is fixed, and
values are read back with `registry.get_sample_value` and through the text format.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, fresh_url
from helpers_metrics import configure, metrics_inputs
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, update
from support import tool

from monitor.config.load import DatabaseConfig, default_config
from monitor.context import Context
from monitor.db.migrate import upgrade
from monitor.db.models import App, Notification, Token
from monitor.graph.client import ApiUsage
from monitor.metrics.exposition import build_metrics
from monitor.state import token_state

NOW = 1_800_000_000.0
DAY = 86400.0
SCOPES = "threads_basic threads_content_publish"


def token(name: str, app_id: int = 1, **obs: Any) -> dict[str, Any]:
    """A checked, healthy token row; `obs` overrides observation columns."""
    row = {
        "name": name,
        "app_id": app_id,
        "secret": "x",
        "fingerprint": "f" * 12,
        "labels": {},
        "auto_refresh": False,
        "source": None,
        "created_at": NOW - 9 * DAY,
        "updated_at": NOW - DAY,
        "secret_changed_at": NOW - 9 * DAY,
        "next_check_at": NOW + 3600,
        "consecutive_failures": 0,
        "refresh_failures": 0,
        "last_check_at": NOW - 60,
        "last_success_at": NOW - 60,
        "last_result": "valid",
        "observed_at": NOW - 60,
        "is_valid": True,
        "expires_at": NOW + 50 * DAY,
        "data_access_expires_at": NOW + 80 * DAY,
        "issued_at": NOW - 10 * DAY,
        "scopes": SCOPES,
        "token_type": "USER",
        "application": "Demo App",
        "user_id": "1784",
    }
    row.update(obs)
    return row


FLEET = [
    token("healthy"),
    token("healthy-2", app_id=2, source="crm"),
    token("warn-expiry", expires_at=NOW + 5 * DAY),
    token("crit-data", data_access_expires_at=NOW + 2 * DAY, source="crm"),
    token("dead", is_valid=False, expires_at=None, data_access_expires_at=None, last_result="invalid"),
    token("failing", last_result="error", last_success_at=NOW - 7200),
    token(
        "never",
        is_valid=None,
        last_check_at=None,
        last_success_at=None,
        last_result=None,
        expires_at=None,
        data_access_expires_at=None,
        issued_at=None,
        scopes=None,
        token_type=None,
        application=None,
        user_id=None,
    ),
    token("lost-inspector", app_id=3),  # app 3's inspector was refused: unchecked
    token("no-expiry", expires_at=None, data_access_expires_at=None),
]


def fleet_context(url: str) -> Context:
    """A migrated database holding FLEET, three apps and three notifications; the clock stands at NOW."""
    config = replace(default_config(), database=DatabaseConfig(url=url))
    context = Context(config, clock=lambda: NOW)
    upgrade(context.engine)
    apps = [
        {"id": i, "name": name, "inspector_kind": "user_token", "inspector_secret": "x",
         "inspector_fingerprint": "0" * 12, "inspector_state": state, "created_at": NOW}
        for i, name, state in ((1, "growth", "ok"), (2, "ads", None), (3, "legacy", "invalid"))
    ]  # fmt: skip
    outbox = [
        {"delivery_id": f"d{i}", "notifier": "hooks", "payload": "{}", "status": status, "created_at": NOW,
         "next_attempt_at": NOW, "attempts": 0}
        for i, status in enumerate(["pending", "pending", "sent"])
    ]  # fmt: skip
    with context.engine.begin() as conn:
        conn.execute(insert(App), apps)
        conn.execute(insert(Token), FLEET)
        conn.execute(insert(Notification), outbox)
    return context


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """One read-only fleet per backend for the whole module (migrating per test is slow on servers)."""
    for url in fresh_url(request.param, tmp_path_factory.mktemp(request.param)):
        context = fleet_context(url)
        yield context
        context.close()


@pytest.fixture
def ctx(shared: Context) -> Iterator[Context]:
    """The shared fleet; a test may change the metrics config (as a reload would), it is put back after."""
    config = shared.config
    yield shared
    shared.config = config


@pytest.fixture
def own_ctx(tmp_path: Path) -> Iterator[Context]:
    """A fleet of its own, on SQLite, for tests that change rows."""
    context = fleet_context(f"sqlite:///{tmp_path / 'monitor.sqlite3'}")
    yield context
    context.close()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def tokens_with(registry: CollectorRegistry, name: str) -> set[str]:
    return {s.labels["token"] for f in registry.collect() for s in f.samples if s.name == name}


def test_per_token_series_follow_the_stored_observation(ctx: Context) -> None:
    registry, _ = build_metrics(metrics_inputs(ctx), version="1.2.3")
    healthy = {"token": "healthy", "app": "growth"}
    assert value(registry, "threads_token_valid", **healthy) == 1.0
    assert value(registry, "threads_token_expires_at_timestamp_seconds", **healthy) == NOW + 50 * DAY
    assert (
        value(registry, "threads_token_data_access_expires_at_timestamp_seconds", **healthy) == NOW + 80 * DAY
    )
    assert value(registry, "threads_token_issued_at_timestamp_seconds", **healthy) == NOW - 10 * DAY
    assert (
        value(registry, "threads_token_info", **healthy, type="USER", application="Demo App", user_id="1784")
        == 1.0
    )
    for scope in SCOPES.split():
        assert value(registry, "threads_token_scope_granted", **healthy, scope=scope) == 1.0
    assert value(registry, "threads_token_last_check_timestamp_seconds", **healthy) == NOW - 60
    assert value(registry, "threads_token_last_success_timestamp_seconds", **healthy) == NOW - 60
    assert value(registry, "threads_token_check_success", **healthy) == 1.0
    (build,) = [s for f in registry.collect() for s in f.samples if s.name == "threads_monitor_build_info"]
    assert build.labels["version"] == "1.2.3" and build.value == 1.0


def test_failing_never_checked_and_never_expiring_tokens(ctx: Context) -> None:
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    failing = {"token": "failing", "app": "growth"}
    assert value(registry, "threads_token_check_success", **failing) == 0.0
    assert value(registry, "threads_token_valid", **failing) == 1.0  # the last answer is kept
    assert value(registry, "threads_token_last_success_timestamp_seconds", **failing) == NOW - 7200
    dead = {"token": "dead", "app": "growth"}
    assert value(registry, "threads_token_valid", **dead) == 0.0
    assert value(registry, "threads_token_check_success", **dead) == 1.0  # an answer, and it said invalid
    assert value(registry, "threads_token_expires_at_timestamp_seconds", **dead) is None
    never = {"token": "never", "app": "growth"}
    assert value(registry, "threads_token_valid", **never) is None  # absent until the first answer
    assert value(registry, "threads_token_last_check_timestamp_seconds", **never) is None
    assert value(registry, "threads_token_info", **never, type="", application="", user_id="") == 1.0
    no_expiry = {"token": "no-expiry", "app": "growth"}
    assert value(registry, "threads_token_expires_at_timestamp_seconds", **no_expiry) is None
    assert value(registry, "threads_token_data_access_expires_at_timestamp_seconds", **no_expiry) is None


def test_fleet_counts_match_token_state(ctx: Context) -> None:
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    expected = {s: 0 for s in ("ok", "warning", "critical", "invalid", "unchecked")}
    inspector_refused = {"lost-inspector"}
    for row in FLEET:
        state = token_state(
            is_valid=row["is_valid"],
            expires_at=row["expires_at"],
            data_access_expires_at=row["data_access_expires_at"],
            last_result="inspector" if row["name"] in inspector_refused else row["last_result"],
            horizons=ctx.horizons,
            now=NOW,
        )
        expected[state.value] += 1
    got = {s: value(registry, "threads_monitor_tokens", state=s) for s in expected}
    assert got == {s: float(n) for s, n in expected.items()}
    assert got == {"ok": 4.0, "warning": 1.0, "critical": 1.0, "invalid": 1.0, "unchecked": 2.0}
    within = {
        w: value(registry, "threads_monitor_tokens_expiring", horizon="expires_at", within=w)
        for w in ("1d", "2d", "3d", "7d", "14d", "30d")
    }
    assert within == {"1d": 0.0, "2d": 0.0, "3d": 0.0, "7d": 1.0, "14d": 1.0, "30d": 1.0}
    data = {
        w: value(registry, "threads_monitor_tokens_expiring", horizon="data_access", within=w)
        for w in ("1d", "2d", "3d", "30d")
    }
    assert data == {"1d": 0.0, "2d": 1.0, "3d": 1.0, "30d": 1.0}
    assert value(registry, "threads_monitor_notifications_pending") == 2.0
    assert value(registry, "threads_monitor_source_tokens", source="crm") == 2.0


@pytest.mark.parametrize("mode", ["all", "problems", "none"])
def test_per_token_modes_keep_fleet_counts(ctx: Context, mode: str) -> None:
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    configure(ctx, per_token=mode, scopes=True)
    shown = tokens_with(registry, "threads_token_info")
    everyone = {r["name"] for r in FLEET}
    trouble = {"warn-expiry", "crit-data", "dead", "failing", "never", "lost-inspector"}
    assert shown == {"all": everyone, "problems": trouble, "none": set()}[mode]
    assert sum(
        value(registry, "threads_monitor_tokens", state=s) or 0
        for s in ("ok", "warning", "critical", "invalid", "unchecked")
    ) == len(FLEET)
    assert value(registry, "threads_monitor_tokens", state="unchecked") == 2.0


def test_scopes_switch_and_reload(ctx: Context) -> None:
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    assert tokens_with(registry, "threads_token_scope_granted")
    configure(ctx, per_token="all", scopes=False)  # read again at the next scrape: no restart
    assert not tokens_with(registry, "threads_token_scope_granted")
    assert "threads_token_scope_granted" not in generate_latest(registry).decode()


def test_removed_and_refreshed_tokens_leave_no_stale_series(own_ctx: Context) -> None:
    ctx = own_ctx
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    assert "dead" in tokens_with(registry, "threads_token_valid")
    with ctx.engine.begin() as conn:
        conn.execute(delete(Token).where(Token.name == "dead"))
        conn.execute(update(Token).where(Token.name == "healthy").values(expires_at=NOW + 59 * DAY))
    assert "dead" not in tokens_with(registry, "threads_token_valid") | tokens_with(
        registry, "threads_token_info"
    )
    samples = [
        s
        for f in registry.collect()
        for s in f.samples
        if s.name == "threads_token_expires_at_timestamp_seconds" and s.labels["token"] == "healthy"
    ]
    assert [s.value for s in samples] == [NOW + 59 * DAY]


def test_label_values_are_escaped_in_the_text_format(own_ctx: Context) -> None:
    ctx = own_ctx
    with ctx.engine.begin() as conn:
        conn.execute(update(Token).where(Token.name == "healthy").values(application='Say "hi"\\ \n now'))
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    text = generate_latest(registry).decode()
    parsed = {
        (s.name, s.labels.get("token")): s for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert parsed[("threads_token_info", "healthy")].labels["application"] == 'Say "hi"\\ \n now'


def test_events_count_checks_calls_and_notifications(own_ctx: Context) -> None:
    ctx = own_ctx
    registry, events = build_metrics(metrics_inputs(ctx), version="t")
    for result in ("valid", "invalid", "error"):  # present at 0 before anything happened
        assert value(registry, "threads_monitor_checks_total", result=result) == 0.0
    assert value(registry, "threads_monitor_refreshes_total", outcome="failed") == 0.0
    events.check("valid", 0.03)
    events.check("throttled", 1.5)
    events.check("inspector", 0.2)
    assert value(registry, "threads_monitor_checks_total", result="error") == 2.0
    assert value(registry, "threads_monitor_check_duration_seconds_count") == 3.0
    assert value(registry, "threads_monitor_check_duration_seconds_bucket", le="0.05") == 1.0
    events.api("debug_token", "200", ApiUsage(app={"call_count": 12.0}, business={"total_time": 40.0}))
    events.api("debug_token", "error", None)
    assert value(registry, "threads_monitor_api_requests_total", endpoint="debug_token", code="200") == 1.0
    assert (
        value(registry, "threads_monitor_api_usage_percent", header="x-app-usage", metric="call_count")
        == 12.0
    )
    assert (
        value(
            registry,
            "threads_monitor_api_usage_percent",
            header="x-business-use-case-usage",
            metric="total_time",
        )
        == 40.0
    )
    events.notification("hooks", "sent")
    events.refresh("refreshed")
    events.source_sync("crm", "ok")
    assert value(registry, "threads_monitor_notifications_total", notifier="hooks", outcome="sent") == 1.0
    assert value(registry, "threads_monitor_refreshes_total", outcome="refreshed") == 1.0
    assert value(registry, "threads_monitor_source_sync_total", source="crm", outcome="ok") == 1.0


def test_two_registries_do_not_share_series(own_ctx: Context) -> None:
    ctx = own_ctx
    first, events = build_metrics(metrics_inputs(ctx), version="t")
    second, _ = build_metrics(metrics_inputs(ctx), version="t")
    events.check("valid", 0.1)
    assert value(first, "threads_monitor_checks_total", result="valid") == 1.0
    assert value(second, "threads_monitor_checks_total", result="valid") == 0.0


def test_promtool_accepts_a_scrape_of_1000_tokens(tmp_path: Path) -> None:
    promtool = tool("promtool")
    config = replace(default_config(), database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'm.sqlite3'}"))
    context = Context(config, clock=lambda: NOW)
    upgrade(context.engine)
    with context.engine.begin() as conn:
        conn.execute(
            insert(App),
            [
                {
                    "id": 1,
                    "name": "growth",
                    "inspector_kind": "user_token",
                    "inspector_secret": "x",
                    "inspector_fingerprint": "0" * 12,
                    "created_at": NOW,
                }
            ],
        )
        conn.execute(
            insert(Token),
            [
                token(
                    f"t-{i:04d}",
                    source="crm" if i % 2 else None,
                    last_result="error" if i % 50 == 0 else "valid",
                )
                for i in range(1000)
            ],
        )
    registry, events = build_metrics(metrics_inputs(context), version="1.0.0")
    events.check("valid", 0.05)
    events.api("debug_token", "200", None)
    body = generate_latest(registry)
    context.close()
    assert body.count(b"threads_token_info{") == 1000
    done = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")


def label_series(registry: CollectorRegistry) -> dict[str, dict[str, str]]:
    return {
        s.labels["token"]: s.labels
        for f in registry.collect()
        for s in f.samples
        if s.name == "threads_token_labels"
    }


def test_registry_labels_are_exported_only_for_the_allowed_keys(own_ctx: Context) -> None:
    with own_ctx.engine.begin() as conn:
        conn.execute(
            update(Token).where(Token.name == "healthy").values(labels={"team": "growth", "cc": "42"})
        )
        conn.execute(update(Token).where(Token.name == "dead").values(labels={"team": "ads", "env": "prod"}))
    registry, _ = build_metrics(metrics_inputs(own_ctx), version="t")
    assert label_series(registry) == {}, "no label is exported unless [metrics] labels allows it"
    configure(own_ctx, labels=("team", "env"))
    found = label_series(registry)
    assert found["healthy"] == {"token": "healthy", "app": "growth", "label_team": "growth"}
    assert found["dead"] == {"token": "dead", "app": "growth", "label_team": "ads", "label_env": "prod"}
    assert found["never"] == {"token": "never", "app": "growth"}  # every per-token token, labelled or not
    assert registry.get_sample_value("threads_token_labels", found["dead"]) == 1.0
    configure(own_ctx, labels=("team",), per_token="problems")
    assert "healthy" not in label_series(registry) and "dead" in label_series(registry)
    configure(own_ctx, labels=("team",), per_token="none")
    assert label_series(registry) == {}


def test_the_cached_exposition_carries_the_labels(own_ctx: Context) -> None:
    with own_ctx.engine.begin() as conn:
        conn.execute(update(Token).where(Token.name == "healthy").values(labels={"team": "growth"}))
    configure(own_ctx, labels=("team",))
    registry, _ = build_metrics(metrics_inputs(own_ctx), version="t")
    body = registry.render().decode()  # type: ignore[attr-defined]
    assert 'threads_token_labels{app="growth",label_team="growth",token="healthy"} 1.0' in body
