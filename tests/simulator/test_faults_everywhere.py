"""Fault injection works on every platform's endpoints alike: each fault kind on each endpoint of each
platform, over real HTTP, plus faults narrowed to one platform."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from helpers_sim import (
    FB_APP,
    FB_APP_TOKEN,
    FB_SECRET,
    IG_APP,
    IG_APP_TOKEN,
    THREADS_APP,
    THREADS_DEV,
    three_platforms,
)

from monitor.simulator import DAY, DEBUG, EXCHANGE, ME, REFRESH, Simulator

TWO_DAYS_AGO = time.time() - 2 * DAY
# (platform, endpoint, path, query): one call per endpoint of every platform, on a healthy token "T-<app>".
CALLS = [
    ("threads", DEBUG, "/threads/v1.0/debug_token",
     {"input_token": f"T-{THREADS_APP}", "access_token": THREADS_DEV}),
    ("threads", REFRESH, "/threads/refresh_access_token",
     {"grant_type": "th_refresh_token", "access_token": f"T-{THREADS_APP}"}),
    ("facebook", DEBUG, "/facebook/v25.0/debug_token",
     {"input_token": f"T-{FB_APP}", "access_token": FB_APP_TOKEN}),
    ("facebook", EXCHANGE, "/facebook/v25.0/oauth/access_token",
     {"grant_type": "fb_exchange_token", "client_id": FB_APP, "client_secret": FB_SECRET,
      "fb_exchange_token": f"T-{FB_APP}"}),
    ("instagram", DEBUG, "/instagram/debug_token",
     {"input_token": f"T-{IG_APP}", "access_token": IG_APP_TOKEN}),
    ("instagram", ME, "/instagram/me", {"fields": "user_id,username", "access_token": f"T-{IG_APP}"}),
    ("instagram", REFRESH, "/instagram/refresh_access_token",
     {"grant_type": "ig_refresh_token", "access_token": f"T-{IG_APP}"}),
]  # fmt: skip
USAGE_TYPE = {"threads": "threads", "facebook": "pages", "instagram": "instagram"}
IDS = [f"{platform}-{endpoint}" for platform, endpoint, _, _ in CALLS]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with three_platforms() as s:
        s.set_instagram_debug("full")
        for app in (THREADS_APP, FB_APP, IG_APP):
            s.add_token(f"T-{app}", app_id=app, issued_at=TWO_DAYS_AGO)
        yield s


@pytest.fixture()
def clean(sim: Simulator) -> Iterator[Simulator]:
    sim.clear_faults()
    yield sim
    sim.clear_faults()


def call(sim: Simulator, path: str, query: dict[str, str]) -> requests.Response:
    return requests.get(sim.url + path, params=query, timeout=10)


@pytest.mark.parametrize(("platform", "endpoint", "path", "query"), CALLS, ids=IDS)
def test_without_faults_every_endpoint_answers_200(clean: Simulator, platform: str, endpoint: str,
                                                   path: str, query: dict[str, str]) -> None:  # fmt: skip
    answer = call(clean, path, query)
    assert answer.status_code == 200, answer.text
    assert clean.calls(endpoint=endpoint, platform=platform) >= 1


@pytest.mark.parametrize(("platform", "endpoint", "path", "query"), CALLS, ids=IDS)
def test_every_fault_kind_on_every_endpoint(clean: Simulator, platform: str, endpoint: str,
                                            path: str, query: dict[str, str]) -> None:  # fmt: skip
    sim = clean
    sim.set_fault("throttle", endpoint=endpoint, minutes=7, count=1)
    throttled = call(sim, path, query)
    assert throttled.status_code == 400 and throttled.json()["error"]["code"] == 4
    entry = next(iter(json.loads(throttled.headers["X-Business-Use-Case-Usage"]).values()))[0]
    assert entry["type"] == USAGE_TYPE[platform] and entry["estimated_time_to_regain_access"] == 7
    assert json.loads(throttled.headers["X-App-Usage"])["call_count"] == 100

    sim.set_fault("http_error", endpoint=endpoint, status=503, retry_after=3, count=1)
    unavailable = call(sim, path, query)
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "3")

    sim.set_fault("graph_error", endpoint=endpoint, code=2, count=1)
    assert call(sim, path, query).json()["error"]["code"] == 2

    sim.set_fault("malformed", endpoint=endpoint, count=1)
    assert call(sim, path, query).text.startswith("<html>")

    sim.set_fault("truncated", endpoint=endpoint, count=1)
    with pytest.raises(ValueError):
        call(sim, path, query).json()

    sim.set_fault("shape", endpoint=endpoint, body=["not", "an", "object"], count=1)
    assert call(sim, path, query).json() == ["not", "an", "object"]

    sim.set_fault("oversized", endpoint=endpoint, size=200_000, count=1)
    assert len(call(sim, path, query).content) == 200_000

    sim.set_fault("reset", endpoint=endpoint, count=1)
    with pytest.raises(requests.ConnectionError):
        call(sim, path, query)

    sim.set_fault("trickle", endpoint=endpoint, bytes_per_second=1_000_000, count=1)
    sim.set_fault("usage", endpoint=endpoint, percent=85, count=1)
    sim.set_fault("latency", endpoint=endpoint, seconds=0.0, count=1)
    modified = call(sim, path, query)  # the real answer, slowly, with usage headers
    assert modified.status_code == 200 and json.loads(modified.headers["X-App-Usage"])["call_count"] == 85
    assert call(sim, path, query).status_code == 200  # every count used up


def test_a_fault_can_be_narrowed_to_one_platform(clean: Simulator) -> None:
    clean.set_fault("http_error", status=500, endpoint=DEBUG, platform="facebook")
    (_, _, th_path, th_query), (_, _, fb_path, fb_query) = CALLS[0], CALLS[2]
    assert call(clean, th_path, th_query).status_code == 200
    assert call(clean, fb_path, fb_query).status_code == 500
    clean.clear_faults()
    assert call(clean, fb_path, fb_query).status_code == 200
