"""The cached exposition: an unchanged scrape reuses the body, a change in stored state or time shows up in
the next scrape, and the event counters stay live whatever the cache holds."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers_metrics import metrics_inputs
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, update

from monitor.config.load import DatabaseConfig, default_config
from monitor.context import Context
from monitor.db.migrate import upgrade
from monitor.db.models import App, Deletion, Token
from monitor.metrics import MetricsRegistry, build_metrics
from monitor.metrics.cache import MAX_AGE

NOW = 1_800_000_000.0
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def row(name: str, **values: Any) -> dict[str, Any]:
    base = {
        "name": name, "app_id": 1, "secret": "x", "fingerprint": "f" * 12, "labels": {},
        "auto_refresh": False, "created_at": NOW - 9 * DAY, "updated_at": NOW - DAY,
        "secret_changed_at": NOW - 9 * DAY, "next_check_at": NOW + 3600, "consecutive_failures": 0,
        "refresh_failures": 0, "last_check_at": NOW - 60, "last_success_at": NOW - 60,
        "last_result": "valid", "observed_at": NOW - 60, "is_valid": True,
        "expires_at": NOW + 50 * DAY, "data_access_expires_at": NOW + 80 * DAY, "issued_at": NOW - DAY,
        "token_type": "USER", "application": "Demo", "user_id": "17", "scopes": "threads_basic",
    }  # fmt: skip
    return base | values


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(tmp_path: Path, clock: Clock) -> Iterator[Context]:
    config = replace(default_config(), database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'm.sqlite3'}"))
    context = Context(config, clock=clock)
    upgrade(context.engine)
    app = {"id": 1, "name": "growth", "inspector_kind": "user_token", "inspector_secret": "x",
           "inspector_fingerprint": "0" * 12, "inspector_state": "ok", "created_at": NOW}  # fmt: skip
    with context.engine.begin() as conn:
        conn.execute(insert(App), [app])
        conn.execute(
            insert(Token), [row("a", scopes="threads_basic x"), row("b", expires_at=NOW + 7 * DAY + 30)]
        )
    yield context
    context.close()


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(body.decode())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def sample(body: bytes, name: str, **labels: str) -> float | None:
    return samples(body).get((name, tuple(sorted(labels.items()))))


def stable(body: bytes) -> list[bytes]:
    """The lines of a body without the process_*, python_gc_* and scrape count series (they move between two
    renders of the same state)."""
    moving = (b"process_", b"python_gc_", b"threads_monitor_scrapes_")
    return [
        line
        for line in body.splitlines()
        if not line.removeprefix(b"# HELP ").removeprefix(b"# TYPE ").startswith(moving)
    ]


def metrics(ctx: Context) -> MetricsRegistry:
    registry, _ = build_metrics(metrics_inputs(ctx), version="t")
    assert isinstance(registry, MetricsRegistry)
    return registry


def test_an_unchanged_scrape_returns_the_cached_body(ctx: Context) -> None:
    registry = metrics(ctx)
    first = registry.render()
    assert stable(registry.render()) == stable(first)
    assert registry.cache.renders == 1
    assert sample(first, "threads_token_valid", token="a", app="growth") == 1.0


def test_a_stored_change_shows_in_the_next_scrape(ctx: Context, clock: Clock) -> None:
    registry = metrics(ctx)
    registry.render()
    clock.now += 5
    with ctx.engine.begin() as conn:  # what a check writes: the observation and its time
        conn.execute(update(Token).where(Token.name == "a").values(is_valid=False, last_check_at=clock.now))
    body = registry.render()
    assert registry.cache.renders == 2
    assert sample(body, "threads_token_valid", token="a", app="growth") == 0.0
    assert sample(body, "threads_monitor_tokens", state="invalid") == 1.0


def test_a_new_token_shows_at_once_and_a_removed_one_within_max_age(ctx: Context, clock: Clock) -> None:
    registry = metrics(ctx)
    registry.render()
    with ctx.engine.begin() as conn:
        conn.execute(insert(Token), [row("c")])
    assert sample(registry.render(), "threads_token_valid", token="c", app="growth") == 1.0
    with ctx.engine.begin() as conn:
        conn.execute(delete(Token).where(Token.name == "a"))
    clock.now += MAX_AGE
    assert sample(registry.render(), "threads_token_valid", token="a", app="growth") is None


def test_a_data_deletion_removes_the_tokens_series_at_the_next_scrape(ctx: Context) -> None:
    """A data deletion request deletes tokens and leaves a record: the next scrape drops their series, not
    one up to MAX_AGE later (the user asked for their data to go)."""
    registry = metrics(ctx)
    assert sample(registry.render(), "threads_token_valid", token="a", app="growth") == 1.0
    with ctx.engine.begin() as conn:
        conn.execute(delete(Token).where(Token.name == "a"))
        conn.execute(insert(Deletion), [{"code": "c" * 32, "request_key": "k" * 64, "app": "growth",
                                         "platform": "threads", "done_at": NOW, "counts": {}}])  # fmt: skip
    assert sample(registry.render(), "threads_token_valid", token="a", app="growth") is None


def test_time_alone_moves_a_token_into_warning(ctx: Context, clock: Clock) -> None:
    registry = metrics(ctx)
    assert sample(registry.render(), "threads_monitor_tokens", state="warning") == 0.0
    clock.now += 31  # "b" is now within the 7-day expiry warning: no write, the clock did it
    assert sample(registry.render(), "threads_monitor_tokens", state="warning") == 1.0
    assert registry.cache.renders == 2


def test_counters_stay_live_while_the_token_part_is_cached(ctx: Context) -> None:
    registry, events = build_metrics(metrics_inputs(ctx), version="t")
    assert isinstance(registry, MetricsRegistry)
    registry.render()
    events.check("valid", 0.02)
    events.check("valid", 0.02)
    body = registry.render()
    assert registry.cache.renders == 1
    assert sample(body, "threads_monitor_checks_total", result="valid") == 2.0
    (build,) = [labels for name, labels in samples(body) if name == "threads_monitor_build_info"]
    assert dict(build)["version"] == "t"


def test_gzip_compresses_the_cached_part_once(ctx: Context) -> None:
    registry = metrics(ctx)
    first = registry.render(gzipped=True)
    second = registry.render(gzipped=True)
    assert stable(gzip.decompress(first)) == stable(registry.render())
    member = registry.cache._gzipped[False][1]
    assert first.startswith(member) and second.startswith(member) and registry.cache.renders == 1
    assert registry.get_sample_value("threads_monitor_scrapes_total", {"encoding": "gzip"}) == 2.0


def test_openmetrics_is_cached_too_and_ends_once(ctx: Context) -> None:
    registry = metrics(ctx)
    body = registry.render(openmetrics=True)
    assert stable(body) == stable(registry.render(openmetrics=True))
    assert body.endswith(b"# EOF\n") and body.count(b"# EOF") == 1
    assert b"threads_token_valid" in body and b"threads_monitor_checks_total" in body


@pytest.mark.parametrize("openmetrics", [False, True])
def test_the_cached_body_is_what_prometheus_client_writes(ctx: Context, openmetrics: bool) -> None:
    with ctx.engine.begin() as conn:  # label values and help text that need escaping, a token without facts
        conn.execute(update(Token).where(Token.name == "a").values(application='Say "hi"\\ \n now'))
        conn.execute(insert(Token), [row('odd"name\\', is_valid=None, expires_at=None, scopes=None)])
    registry = metrics(ctx)
    duration = b"threads_monitor_scrape_duration_seconds "
    cached = [line for line in stable(registry.render(openmetrics)) if not line.startswith(duration)]
    fresh = CollectorRegistry()
    fresh.register(registry.cache.collector)
    fresh.register(registry.live)
    generate = generate_openmetrics if openmetrics else generate_latest
    expected = [line for line in stable(generate(fresh)) if not line.startswith(duration)]
    assert cached == expected
