"""Guessing the bearer token: each client has a few wrong attempts, then it is throttled (429, the token not
even compared) until its allowance refills; every refusal is counted, a client's first refusal and its
throttling are logged with its address and never with what it sent. Other clients are not affected.
"""

from __future__ import annotations

import logging
from collections import Counter
from urllib.parse import urlencode

import pytest
import requests
from test_callback_server import API_TOKEN, GUARD, Recorder

from monitor.callbacks import CallbackServer, sign_request
from monitor.callbacks.bearer import BURST, REFILL, BearerGuard

STRONG = "q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4Fg6Hj0Sa"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_throttled_after_its_burst_and_recovers_with_time() -> None:
    clock = Clock()
    guard = BearerGuard(STRONG, clock=clock)
    assert guard.check(f"Bearer {STRONG}", "a") == "ok"
    assert [guard.check("Bearer nope", "a") for _ in range(BURST)] == ["unauthorized"] * BURST
    assert guard.check("Bearer nope", "a") == "throttled"
    assert guard.check(f"Bearer {STRONG}", "a") == "throttled"  # not even compared while throttled
    assert guard.retry_after("a") == int(REFILL)
    assert guard.check(f"Bearer {STRONG}", "b") == "ok"  # another client is not affected
    assert guard.check("Bearer nope", "b") == "unauthorized"
    clock.now += REFILL
    assert guard.check(f"Bearer {STRONG}", "a") == "ok"
    assert guard.check("Bearer nope", "a") == "unauthorized"
    assert guard.check("Bearer nope", "a") == "throttled"  # one attempt came back, and it is spent


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic " + STRONG, "bearer x", STRONG])
def test_anything_but_the_token_is_unauthorised(header: str | None) -> None:
    assert BearerGuard(STRONG).check(header, "a") == "unauthorized"


def test_without_a_token_nothing_is_authorised() -> None:
    assert BearerGuard(None).check("Bearer ", "a") == "unauthorized"


def test_the_clients_remembered_are_bounded() -> None:
    clock = Clock()
    guard = BearerGuard(STRONG, clock=clock, max_clients=100)
    for n in range(1000):
        guard.check("Bearer nope", f"10.0.{n // 256}.{n % 256}")
    assert guard.clients() <= 100


def test_over_http_a_guesser_gets_429_and_is_logged_once_without_its_guess(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    server = CallbackServer(
        secret_for={"growth": "growth-app-secret-THAA0123456789"}.get,
        on_deauthorize=rec.on_deauthorize,
        on_recheck=rec.on_recheck,
        count=rec.count,
        api_token=API_TOKEN,
    )
    server.start()
    url = f"{server.url}/api/v1/recheck"
    try:
        guesses = [f"guess-{n}-THAAGUESS" for n in range(BURST + 5)]
        codes = [
            requests.post(url, json={"token": "a"}, headers={"Authorization": f"Bearer {g}"}, timeout=GUARD)
            for g in guesses
        ]
        assert [c.status_code for c in codes] == [401] * BURST + [429] * 5
        assert int(codes[-1].headers["Retry-After"]) >= 1
        right = {"Authorization": f"Bearer {API_TOKEN}"}
        assert requests.post(url, json={"token": "a"}, headers=right, timeout=GUARD).status_code == 429
        # Meta's callbacks are not bearer-protected: a guesser's address is still served there.
        body = urlencode({"signed_request": sign_request("1", 0, "x")})
        deauth = f"{server.url}/callbacks/threads/growth/deauthorize"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert requests.post(deauth, data=body, headers=form, timeout=GUARD).status_code == 400
    finally:
        server.stop()
    assert rec.queued == []
    assert rec.counts["recheck", "unauthorized"] == BURST
    assert rec.counts["recheck", "throttled"] == 6
    refusals = [r.getMessage() for r in caplog.records if "bearer" in r.getMessage()]
    assert len(refusals) == 2, refusals  # the first refusal, then the throttling: not one line per guess
    assert all("127.0.0.1" in line for line in refusals)
    assert "THAAGUESS" not in caplog.text and API_TOKEN not in caplog.text
    assert Counter(r.levelname for r in caplog.records if "bearer" in r.getMessage()) == {"WARNING": 2}
