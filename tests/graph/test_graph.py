"""GraphClient against the real simulator on 127.0.0.1: every classification, retries, secrets."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from monitor.graph.client import (
    ApiUsage,
    CheckResult,
    GraphClient,
    GraphError,
    Verdict,
    app_token,
    classify_debug,
    classify_refresh,
    redact,
)
from monitor.graph.wire import parse_usage
from monitor.simulator import DAY, Simulator

APP, INSPECTOR, SECRET = "4242", "INSPECTOR-USER-TOKEN-abc123", "app-secret-xyz789"
TOKENS = {
    s: f"THAA-{s}-token-0123456789" for s in ("valid", "expired", "password_changed", "revoked", "garbage")
}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.add_app(APP, INSPECTOR, app_secret=SECRET)
        s.add_app("dev", "DEV-INSPECTOR-TOKEN", state="dev_mode", app_secret="dev-secret-1")
        s.add_app("bad", "BAD-INSPECTOR-TOKEN", state="invalid")
        s.add_app("other", "OTHER-INSPECTOR-TOKEN")
        for state, token in TOKENS.items():
            s.add_token(token, app_id=APP, state=state)
        s.add_token("DEV-APP-USER-TOKEN-1", app_id="dev")
        yield s


@pytest.fixture()
def sleeps() -> list[float]:
    return []


@pytest.fixture()
def client(sim: Simulator, sleeps: list[float]) -> Iterator[GraphClient]:
    sim.clear_faults()
    sim.reset_counters()
    c = GraphClient(base_url=sim.url, timeout=2.0, sleep=sleeps.append)
    yield c
    c.close()
    sim.clear_faults()


def check(client: GraphClient, token: str = TOKENS["valid"], inspector: str = INSPECTOR) -> CheckResult:
    return client.debug_token(token, inspector)


def test_valid_token_carries_every_field(client: GraphClient, sim: Simulator) -> None:
    r = check(client)
    assert r.verdict is Verdict.VALID and r.http_status == 200 and r.attempts == 1
    assert r.info is not None and r.info.is_valid and r.info.app_id == APP and r.info.user_id == "1000"
    rec = sim.token_state(TOKENS["valid"])
    assert r.info.expires_at == int(rec["expires_at"]) and r.info.issued_at == int(rec["issued_at"])
    assert r.info.data_access_expires_at == int(rec["data_access_expires_at"])
    assert r.info.scopes == ("threads_basic", "threads_content_publish")
    assert (r.info.type, r.info.application) == ("USER", "Demo App")


@pytest.mark.parametrize(
    ("state", "reason", "subcode"),
    [("expired", "expired", 463), ("password_changed", "password_changed", 460), ("revoked", "revoked", 466)],
)
def test_invalid_reasons(client: GraphClient, state: str, reason: str, subcode: int) -> None:
    r = check(client, TOKENS[state])
    assert (r.verdict, r.reason, r.error_code, r.error_subcode) == (Verdict.INVALID, reason, 190, subcode)
    assert r.info is not None and not r.info.is_valid and r.info.user_id == "1000"
    if state == "password_changed":
        assert r.info.expires_at is None  # 0 means "never" on the wire
    if state == "expired":
        assert r.info.expires_at is not None


@pytest.mark.parametrize("token", [TOKENS["garbage"], "never-registered-token"])
def test_unparseable_token(client: GraphClient, token: str) -> None:
    r = check(client, token)
    assert (r.verdict, r.reason, r.error_code, r.error_subcode, r.info) == (
        Verdict.INVALID,
        "unparseable",
        190,
        None,
        None,
    )


def test_token_expires_automatically_with_the_clock(client: GraphClient, sim: Simulator) -> None:
    sim.add_token("THAA-soon-gone-token", app_id=APP, expires_at=time.time() - 1)
    assert check(client, "THAA-soon-gone-token").reason == "expired"


def test_invalid_without_error_object_is_other() -> None:
    r = classify_debug(200, b'{"data": {"is_valid": false}}', None, None)
    assert (r.verdict, r.reason, r.info) == (Verdict.INVALID, "other", None)


@pytest.mark.parametrize(
    ("token", "inspector", "reason", "code"),
    [
        (TOKENS["valid"], "BAD-INSPECTOR-TOKEN", "inspector_invalid", 190),
        (TOKENS["valid"], "UNKNOWN-INSPECTOR-TOKEN", "inspector_invalid", 190),
        ("DEV-APP-USER-TOKEN-1", "DEV-INSPECTOR-TOKEN", "dev_mode", 100),
        (TOKENS["valid"], "OTHER-INSPECTOR-TOKEN", "app_mismatch", 100),
    ],
)
def test_inspector_problems(client: GraphClient, token: str, inspector: str, reason: str, code: int) -> None:
    r = check(client, token, inspector)
    assert (r.verdict, r.reason, r.error_code, r.http_status) == (Verdict.INSPECTOR, reason, code, 400)


def test_app_tokens_inspect(client: GraphClient) -> None:
    assert app_token(APP, SECRET) == f"TH|{APP}|{SECRET}"
    assert check(client, inspector=app_token(APP, SECRET)).verdict is Verdict.VALID
    # a dev-mode app rejects user-token inspectors but accepts its app token
    assert check(client, "DEV-APP-USER-TOKEN-1", app_token("dev", "dev-secret-1")).verdict is Verdict.VALID
    assert check(client, inspector=app_token(APP, "wrong-secret")).verdict is Verdict.INSPECTOR
    with pytest.raises(GraphError):
        app_token("", "x")


def test_throttled_parses_usage_and_does_not_retry(client: GraphClient, sim: Simulator, sleeps: list) -> None:
    seen: list[tuple[str, str, ApiUsage | None]] = []
    c = GraphClient(base_url=sim.url, on_response=lambda *a: seen.append(a), sleep=sleeps.append)
    sim.set_fault("throttle", code=80001, minutes=3)
    r = c.debug_token(TOKENS["valid"], INSPECTOR)
    assert (r.verdict, r.error_code, r.attempts, r.retry_after) == (Verdict.THROTTLED, 80001, 1, 180.0)
    assert r.usage is not None and r.usage.app["call_count"] == 100 and r.usage.max_percent() == 100
    assert r.usage.business["total_time"] == 100 and r.usage.regain_after == 180.0
    assert sleeps == [] and sim.calls() == 1
    assert [(e, code) for e, code, _ in seen] == [("debug_token", "400")]
    c.close()


def test_throttle_default_wait_and_usage_without_failure(client: GraphClient, sim: Simulator) -> None:
    sim.set_fault("throttle", count=1, minutes=0)
    assert check(client).retry_after == 60.0
    sim.set_fault("usage", percent=85)
    r = check(client)
    assert r.verdict is Verdict.VALID and r.usage is not None and r.usage.max_percent() == 85


@pytest.mark.parametrize("code", [1, 2])
def test_transient_codes_retried_then_error(
    client: GraphClient, sim: Simulator, sleeps: list, code: int
) -> None:
    sim.set_fault("graph_error", code=code)
    r = check(client)
    assert (r.verdict, r.reason, r.error_code, r.attempts) == (Verdict.ERROR, "transient", code, 3)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5 and sim.calls() == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_retried_then_error(client: GraphClient, sim: Simulator, status: int) -> None:
    sim.set_fault("http_error", status=status)
    r = check(client)
    assert (r.verdict, r.reason, r.http_status, r.attempts) == (Verdict.ERROR, "http_5xx", status, 3)


def test_5xx_then_success_after_count_limited_fault(
    client: GraphClient, sim: Simulator, sleeps: list
) -> None:
    sim.set_fault("http_error", status=503, count=2, retry_after=1)
    r = check(client)
    assert (r.verdict, r.attempts) == (Verdict.VALID, 3)
    assert all(s >= 1 for s in sleeps)  # Retry-After honoured (through the injected sleep)


def test_long_retry_after_is_handed_back(client: GraphClient, sim: Simulator, sleeps: list) -> None:
    sim.set_fault("http_error", status=503, retry_after=120)
    r = check(client)
    assert (r.reason, r.retry_after, r.attempts, sleeps) == ("http_5xx", 120.0, 1, [])


@pytest.mark.parametrize(
    ("kind", "reason", "attempts"),
    [("malformed", "malformed", 1), ("truncated", "malformed", 1), ("reset", "connection", 3)],
)
def test_broken_answers(client: GraphClient, sim: Simulator, kind: str, reason: str, attempts: int) -> None:
    sim.set_fault(kind, token=TOKENS["valid"])
    r = check(client)
    assert (r.verdict, r.reason, r.attempts) == (Verdict.ERROR, reason, attempts)
    assert check(client, TOKENS["revoked"]).reason == "revoked"  # per-token fault: others unaffected


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "x",
        3,
        {},
        {"data": []},
        {"data": {}},
        {"data": {"is_valid": "yes"}},
        {"data": {"is_valid": True, "expires_at": "soon"}},
        {"data": {"is_valid": True, "scopes": "all"}},
        {"data": {"is_valid": True, "scopes": [1]}},
        {"data": {"is_valid": True, "user_id": {}}},
        {"data": {"is_valid": False, "error": "x"}},
        {"data": {"is_valid": False, "error": {"code": "190"}}},
        {"data": {"is_valid": True, "issued_at": -5}},
        {"error": []},
        {"error": {"code": True}},
    ],
)
def test_odd_shapes_are_malformed(client: GraphClient, sim: Simulator, body: object) -> None:
    sim.set_fault("shape", body=body)
    r = check(client)
    assert (r.verdict, r.reason) == (Verdict.ERROR, "malformed")


def test_oversized_body_is_too_large(client: GraphClient, sim: Simulator) -> None:
    sim.set_fault("oversized", size=5_000_000)
    assert check(client).reason == "too_large"
    small = GraphClient(base_url=sim.url, max_body_bytes=100)
    sim.clear_faults()
    assert small.debug_token(TOKENS["valid"], INSPECTOR).reason == "too_large"
    small.close()


def test_trickle_hits_the_deadline(sim: Simulator, sleeps: list) -> None:
    # 10 bytes every 50 ms: no single read waits long enough for a per-read timeout, and the whole answer
    # (several hundred bytes) would arrive, valid, after seconds. Only a deadline on the whole call cuts it.
    sim.set_fault("trickle", bytes_per_second=200)
    c = GraphClient(base_url=sim.url, timeout=0.3, retries=0, sleep=sleeps.append)
    r = c.debug_token(TOKENS["valid"], INSPECTOR)
    assert (r.verdict, r.reason) == (Verdict.ERROR, "timeout")
    sim.clear_faults()
    c.close()


def test_latency(client: GraphClient, sim: Simulator, sleeps: list) -> None:
    sim.set_fault("latency", seconds=0.05, count=1)
    assert check(client).verdict is Verdict.VALID
    c = GraphClient(base_url=sim.url, timeout=0.1, retries=1, sleep=sleeps.append)
    sim.set_fault("latency", seconds=0.3)
    r = c.debug_token(TOKENS["valid"], INSPECTOR)
    assert (r.reason, r.attempts, r.http_status) == ("timeout", 2, None)
    c.close()


def test_refresh_success_gives_a_new_string(client: GraphClient, sim: Simulator) -> None:
    old = "THAA-refreshable-token-00001"
    sim.add_token(old, app_id=APP, issued_at=time.time() - 3 * DAY)
    r = client.refresh_access_token(old)
    assert r.ok and r.verdict is Verdict.VALID and r.expires_in == 60 * DAY
    assert r.access_token and r.access_token != old and r.access_token not in repr(r)
    rec = sim.token_state(r.access_token)
    assert rec["expires_at"] - rec["issued_at"] == 60 * DAY
    assert check(client, r.access_token).verdict is Verdict.VALID


@pytest.mark.parametrize(("age", "state", "reason"), [(0.5, "valid", "other"), (10, "expired", "expired")])
def test_refresh_refused(client: GraphClient, sim: Simulator, age: float, state: str, reason: str) -> None:
    token = f"THAA-refuse-{state}-token"
    sim.add_token(token, app_id=APP, state=state, issued_at=time.time() - age * DAY)
    r = client.refresh_access_token(token)
    assert (r.ok, r.verdict, r.reason, r.error_code, r.access_token) == (
        False,
        Verdict.INVALID,
        reason,
        190,
        None,
    )


def test_refresh_errors() -> None:
    assert classify_refresh(200, b"{}", None, None).reason == "malformed"
    assert classify_refresh(400, b'{"error": {"code": 4}}', None, None).verdict is Verdict.THROTTLED
    assert classify_refresh(502, b"", None, 3.0).retry_after == 3.0


def test_usage_header_parsing_tolerates_garbage() -> None:
    assert parse_usage({"X-App-Usage": "nope"}) is None
    u = parse_usage({"X-Business-Use-Case-Usage": '{"1": [{"call_count": 40}, {"call_count": 70}], "2": 5}'})
    assert u is not None and u.business == {"call_count": 70} and u.regain_after is None


def test_redact_covers_encoded_and_app_secret() -> None:
    text = "a TOKEN-1 b TH%7C42%7Csecret99 c secret99"
    assert redact(text, ["TOKEN-1", "TH|42|secret99"]) == "a [redacted] b [redacted] c [redacted]"


def test_secrets_never_leak(
    client: GraphClient, sim: Simulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    sim.set_fault(
        "shape", count=1, body={"error": {"code": 100, "message": f"bad {INSPECTOR} {TOKENS['valid']}"}}
    )
    results: list[object] = [check(client)]
    sim.set_fault("reset", count=3)
    results.append(check(client))
    sim.set_fault("latency", seconds=0.3)
    fast = GraphClient(base_url=sim.url, timeout=0.05, retries=0)
    results.append(fast.debug_token(TOKENS["valid"], INSPECTOR))
    dead = GraphClient(base_url="http://127.0.0.1:9", retries=0, timeout=0.5)
    results.append(dead.debug_token(TOKENS["valid"], INSPECTOR))
    results.append(dead.refresh_access_token(TOKENS["valid"]))
    text = " ".join(repr(r) for r in results) + caplog.text + "".join(capsys.readouterr())
    assert "[redacted]" in repr(results[0])
    assert INSPECTOR not in text and TOKENS["valid"] not in text and "THAA" not in text
    fast.close()
    dead.close()


@pytest.mark.parametrize(
    "data",
    [
        {"type": "USER_WITH_A_LONG_TYPE_NAME_BEYOND_ANY_KIND"},  # longer than tokens.token_type (32)
        {"user_id": "9" * 65},
        {"application": "x" * 201},
        {"expires_at": 1e20},  # beyond year 9999: nothing could print it
        {"expires_at": float("inf")},
        {"issued_at": -5},
        {"scopes": ["threads_basic", "x" * 101]},
        {"scopes": ["a b"]},
        {"scopes": [f"s{i}" for i in range(101)]},
        {"error": {"code": 2**40, "message": "big"}, "is_valid": False},
    ],
)
def test_answers_that_would_not_fit_the_registry_are_malformed(data: dict) -> None:
    """A value the database cannot store must be a check error at the edge, never a failed batch write."""
    body = json.dumps({"data": {"is_valid": True, "scopes": [], **data}}, allow_nan=True).encode()
    r = classify_debug(200, body, None, None)
    assert (r.verdict, r.reason) == (Verdict.ERROR, "malformed")


def test_retry_after_is_finite_and_bounded() -> None:
    from monitor.retry import retry_after_header

    assert retry_after_header({"Retry-After": "7"}, 0.0) == 7
    assert retry_after_header({"Retry-After": "1e400"}, 0.0) is None
    assert retry_after_header({"Retry-After": "nan"}, 0.0) is None
    assert retry_after_header({"Retry-After": "99999999"}, 0.0) == 86400
