"""monitor.callbacks.server over 127.0.0.1 with a real HTTP client: what Meta and an application see.

The callables a daemon would pass in are recorders here: what was stored, what was queued, what was
counted. The clock is fixed, so "stale" and "future" are exact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
import requests

from monitor.callbacks import (
    CallbackServer,
    Kind,
    Outcome,
    RecheckError,
    RecheckRequest,
    parse_recheck,
    sign_request,
)
from monitor.callbacks.signed import MAX_AGE, MAX_SKEW

NOW = 1_750_000_000
SECRET = "growth-app-secret-THAA0123456789"
API_TOKEN = "monitor-api-token-THAA9876543210"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GUARD = 15.0


@dataclass
class Recorder:
    stored: list[tuple[str, str, int, bytes, str]] = field(default_factory=list)
    queued: list[RecheckRequest] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    failing: bool = False

    def on_deauthorize(self, app: str, user_id: str, issued_at: int, body: bytes, content_type: str) -> None:
        if self.failing:
            raise RuntimeError(f"database is locked (secret {SECRET})")
        self.stored.append((app, user_id, issued_at, body, content_type))

    def on_recheck(self, request: RecheckRequest) -> int:
        self.queued.append(request)
        return len(request.tokens) or 2

    def count(self, kind: Kind, outcome: Outcome) -> None:
        self.counts[(kind, outcome)] += 1


@dataclass
class Env:
    rec: Recorder
    server: CallbackServer

    def deauthorize(
        self, body: bytes | str, app: str = "growth", headers: dict[str, str] | None = None
    ) -> requests.Response:
        data = body.encode() if isinstance(body, str) else body
        url = f"{self.server.url}/callbacks/threads/{app}/deauthorize"
        return requests.post(url, data=data, headers=FORM if headers is None else headers, timeout=GUARD)

    def recheck(
        self, json_body: object = None, token: str | None = API_TOKEN, raw: bytes | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        url = f"{self.server.url}/api/v1/recheck"
        if raw is not None:
            return requests.post(url, data=raw, headers=headers, timeout=GUARD)
        return requests.post(url, json=json_body, headers=headers, timeout=GUARD)


def make_env(api_token: str | None = API_TOKEN) -> tuple[Recorder, CallbackServer]:
    rec = Recorder()
    server = CallbackServer(
        secret_for={"growth": SECRET}.get,
        on_deauthorize=rec.on_deauthorize,
        on_recheck=rec.on_recheck,
        count=rec.count,
        now=lambda: NOW,
        api_token=api_token,
    )
    server.start()
    return rec, server


@pytest.fixture
def env(caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    caplog.set_level(logging.DEBUG)
    rec, server = make_env()
    yield Env(rec, server)
    server.stop()
    for secret in (SECRET, API_TOKEN, "signed_request"):
        assert secret not in caplog.text  # nothing secret is logged by any test here


def form(signed_request: str) -> str:
    return urlencode({"signed_request": signed_request})


def test_an_accepted_callback_is_stored_once_then_answered(env: Env) -> None:
    body = form(sign_request("17841400000000001", NOW - 30, SECRET))
    answer = env.deauthorize(body)
    assert (answer.status_code, answer.text) == (200, "ok\n")
    assert env.rec.stored == [("growth", "17841400000000001", NOW - 30, body.encode(), FORM["Content-Type"])]
    assert env.rec.counts == Counter({("deauthorize", "accepted"): 1})


@pytest.mark.parametrize(
    ("app", "body", "content_type", "outcome"),
    [
        ("growth", form(sign_request("1", NOW, "not-the-secret")), FORM, "bad_signature"),
        ("growth", form(sign_request("1", NOW, SECRET, algorithm="HMAC-SHA1")), FORM, "bad_signature"),
        ("growth", form(sign_request("1", NOW - MAX_AGE - 1, SECRET)), FORM, "stale"),
        ("growth", form(sign_request("1", NOW + MAX_SKEW + 60, SECRET)), FORM, "stale"),
        ("unknown", form(sign_request("1", NOW, SECRET)), FORM, "unknown_app"),
        ("growth", "hello=world", FORM, "bad_request"),
        ("growth", "signed_request=%%%", FORM, "bad_request"),
        ("growth", form(sign_request("1", NOW, SECRET)), {"Content-Type": "application/json"}, "bad_request"),
        ("growth", form(sign_request("1", NOW, SECRET) + "x" * 9000), FORM, "bad_request"),
        ("unknown", "x" * 9000, FORM, "unknown_app"),
    ],
    ids=[
        "forged",
        "algorithm",
        "stale",
        "future",
        "unknown-app",
        "garbage",
        "bad-b64",
        "json",
        "oversized",
        "big-unknown",
    ],
)
def test_refused_callbacks_are_400_uncalled_and_counted(
    env: Env, app: str, body: str, content_type: dict[str, str], outcome: str
) -> None:
    answer = env.deauthorize(body, app=app, headers=content_type)
    assert (answer.status_code, answer.text) == (400, "refused\n")
    assert env.rec.stored == []
    assert env.rec.counts == Counter({("deauthorize", outcome): 1})


def test_a_callback_that_cannot_be_stored_is_503_so_meta_retries(env: Env) -> None:
    body = form(sign_request("42", NOW, SECRET))
    env.rec.failing = True
    answer = env.deauthorize(body)
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert env.rec.counts[("deauthorize", "accepted")] == 0
    env.rec.failing = False
    assert env.deauthorize(body).status_code == 200
    assert [s[1] for s in env.rec.stored] == ["42"]


def test_other_methods_and_paths(env: Env) -> None:
    base = env.server.url
    assert requests.get(f"{base}/callbacks/threads/growth/deauthorize", timeout=GUARD).status_code == 405
    assert requests.get(f"{base}/api/v1/recheck", timeout=GUARD).status_code == 405
    assert requests.post(f"{base}/callbacks/threads/growth", timeout=GUARD).status_code == 404
    assert requests.get(f"{base}/metrics", timeout=GUARD).status_code == 404
    assert not env.rec.counts


@pytest.mark.parametrize("token", [None, "wrong-token", API_TOKEN + "x", ""])
def test_recheck_needs_the_bearer_token(env: Env, token: str | None) -> None:
    answer = env.recheck({"token": "a"}, token=token)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert env.rec.queued == [] and env.rec.counts == Counter({("recheck", "unauthorized"): 1})


def test_recheck_basic_auth_and_oversized_bodies_are_unauthorised(env: Env) -> None:
    headers = {"Authorization": f"Basic {API_TOKEN}"}
    url = f"{env.server.url}/api/v1/recheck"
    assert requests.post(url, json={"token": "a"}, headers=headers, timeout=GUARD).status_code == 401
    assert env.recheck(raw=b"x" * 300_000, token="wrong").status_code == 401
    assert env.recheck(raw=b"x" * 300_000).status_code == 413
    assert env.rec.counts == Counter({("recheck", "unauthorized"): 2, ("recheck", "bad_request"): 1})


@pytest.mark.parametrize(
    ("body", "queued", "expected"),
    [
        ({"token": "ig-main"}, 1, RecheckRequest(tokens=("ig-main",))),
        ({"tokens": ["a", "b", "a"]}, 2, RecheckRequest(tokens=("a", "b"))),
        ({"app": "growth", "user_id": "123"}, 2, RecheckRequest(app="growth", user_id="123")),
        ({"app": "growth", "user_id": 123}, 2, RecheckRequest(app="growth", user_id="123")),
    ],
)
def test_recheck_queues_and_answers_202(
    env: Env, body: object, queued: int, expected: RecheckRequest
) -> None:
    answer = env.recheck(body)
    assert (answer.status_code, answer.json()) == (202, {"queued": queued})
    assert env.rec.queued == [expected]
    assert env.rec.counts == Counter({("recheck", "accepted"): 1})


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff",
        b"[]",
        b"{}",
        b'{"token": ""}',
        b'{"token": 5}',
        b'{"token": "a", "extra": 1}',
        b'{"tokens": []}',
        b'{"tokens": "a"}',
        b'{"tokens": ["a", 1]}',
        b'{"tokens": [' + b",".join([b'"a"'] * 1001) + b"]}",
        b'{"app": "growth"}',
        b'{"app": "growth", "user_id": "12x"}',
        b'{"app": "growth", "user_id": true}',
        b'{"token": "' + b"a" * 201 + b'"}',
        b'{"token": "a\\nb"}',
    ],
)
def test_recheck_refuses_anything_but_the_three_shapes(env: Env, raw: bytes) -> None:
    answer = env.recheck(raw=raw)
    assert answer.status_code == 400 and "error" in answer.json()
    assert env.rec.queued == [] and env.rec.counts == Counter({("recheck", "bad_request"): 1})
    with pytest.raises(RecheckError):
        parse_recheck(raw)


def test_without_an_api_token_the_recheck_api_is_off() -> None:
    rec, server = make_env(api_token=None)
    try:
        answer = requests.post(f"{server.url}/api/v1/recheck", json={"token": "a"}, timeout=GUARD)
        assert answer.status_code == 404
        headers = {"Authorization": "Bearer "}
        assert (
            requests.post(f"{server.url}/api/v1/recheck", headers=headers, timeout=GUARD).status_code == 404
        )
    finally:
        server.stop()
    assert not rec.counts and not rec.queued
