"""The pure half of a check: next_check_at (the call budget) and observe()/changed() (when to snapshot).

No clock, no database, no network: every input, `now` and the jitter draw are arguments.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from monitor.check.observe import Cadence, calls_per_day, changed, next_check_at, observe
from monitor.graph.client import CheckResult, TokenInfo, Verdict

HOUR, DAY = 3600.0, 86400.0
FAR = 10_000 * DAY  # a horizon years away
RANDS = (0.0, 0.25, 0.5, 0.999)
FAILING = ("error", "throttled", "inspector")


def schedule(
    cadence: Cadence,
    *,
    result: str = "valid",
    expires_at: float | None = FAR,
    data_access_expires_at: float | None = FAR,
    failures: int = 0,
    retry_after: float | None = None,
    rand: Callable[[], float] = lambda: 0.999,
) -> Callable[[float], float]:
    """A `now -> next check` function for calls_per_day, with a fixed token state."""

    def step(now: float) -> float:
        return next_check_at(
            result=result,
            expires_at=expires_at,
            data_access_expires_at=data_access_expires_at,
            consecutive_failures=failures,
            retry_after=retry_after,
            cadence=cadence,
            now=now,
            rand=rand(),
        )

    return step


@pytest.mark.parametrize("rand", RANDS)
@pytest.mark.parametrize("horizons", [(FAR, FAR), (None, None), (None, FAR), (FAR, None)])
def test_a_healthy_token_costs_at_most_24_calls_a_day_at_1h(
    rand: float, horizons: tuple[float | None, float | None]
) -> None:
    hourly = Cadence(min_interval=300, max_interval=HOUR, jitter=0.5)
    fn = schedule(hourly, expires_at=horizons[0], data_access_expires_at=horizons[1], rand=lambda: rand)
    assert calls_per_day(fn) <= 24
    assert calls_per_day(fn, days=30) <= 24 * 30
    default = Cadence()  # max_interval 6h
    fn = schedule(default, expires_at=horizons[0], data_access_expires_at=horizons[1], rand=lambda: rand)
    assert calls_per_day(fn) <= 4


def test_a_healthy_token_is_still_checked_at_least_every_max_interval() -> None:
    cadence = Cadence(max_interval=HOUR)
    for rand in RANDS:
        assert (
            next_check_at(
                result="valid",
                expires_at=FAR,
                data_access_expires_at=None,
                consecutive_failures=0,
                retry_after=None,
                cadence=cadence,
                now=0.0,
                rand=rand,
            )
            <= HOUR
        )


@pytest.mark.parametrize("which", ["expires_at", "data_access_expires_at"])
def test_a_token_2_days_before_a_horizon_is_checked_at_least_hourly(which: str) -> None:
    cadence = Cadence()  # max 6h: the horizon, not the ceiling, makes it hourly
    horizon = 2 * DAY
    gen = random.Random(7)
    t, gaps = 0.0, []
    while t < horizon:
        kwargs = {"expires_at": FAR, "data_access_expires_at": FAR, which: horizon}
        nxt = next_check_at(
            result="valid",
            consecutive_failures=0,
            retry_after=None,
            cadence=cadence,
            now=t,
            rand=gen.random(),
            **kwargs,
        )  # type: ignore[arg-type]
        gaps.append(nxt - t)
        t = nxt
    assert max(gaps) <= HOUR
    assert min(gaps) >= cadence.min_interval
    assert len(gaps) >= 48


@pytest.mark.parametrize("result", ["valid", "invalid", *FAILING])
def test_never_more_often_than_min_interval(result: str) -> None:
    cadence = Cadence(min_interval=300, max_interval=6 * HOUR, jitter=0.5)
    for failures in (0, 1, 2, 5):
        for retry_after in (None, 0.0, 1.0, 299.0, 301.0):
            for expires in (None, -DAY, 0.0, 60.0, HOUR, 2 * DAY):
                for rand in RANDS:
                    nxt = next_check_at(
                        result=result,
                        expires_at=expires,
                        data_access_expires_at=expires,
                        consecutive_failures=failures,
                        retry_after=retry_after,
                        cadence=cadence,
                        now=0.0,
                        rand=rand,
                    )
                    assert nxt >= cadence.min_interval, (failures, retry_after, expires, rand)


def test_backoff_after_errors_doubles_and_is_capped_at_max_interval() -> None:
    cadence = Cadence(min_interval=300, max_interval=6 * HOUR, jitter=0.0)
    for result in FAILING:
        gaps = [
            next_check_at(
                result=result,
                expires_at=FAR,
                data_access_expires_at=FAR,
                consecutive_failures=n,
                retry_after=None,
                cadence=cadence,
                now=0.0,
                rand=0.5,
            )
            for n in range(1, 40)
        ]
        assert gaps[:4] == [300, 600, 1200, 2400]
        assert gaps == sorted(gaps)
        assert max(gaps) == 6 * HOUR


def test_retry_after_is_honoured_even_with_jitter_but_capped_at_max_interval() -> None:
    cadence = Cadence(min_interval=60, max_interval=HOUR, jitter=0.5)
    for rand in RANDS:
        nxt = next_check_at(
            result="throttled",
            expires_at=FAR,
            data_access_expires_at=FAR,
            consecutive_failures=1,
            retry_after=1800,
            cadence=cadence,
            now=0.0,
            rand=rand,
        )
        assert 1800 <= nxt <= HOUR
        nxt = next_check_at(
            result="error",
            expires_at=FAR,
            data_access_expires_at=FAR,
            consecutive_failures=1,
            retry_after=10 * DAY,
            cadence=cadence,
            now=0.0,
            rand=rand,
        )
        assert nxt == HOUR


def test_jitter_only_brings_checks_forward() -> None:
    cadence = Cadence(min_interval=300, max_interval=6 * HOUR, jitter=0.5)
    cases = [("valid", FAR), ("valid", 3 * DAY), ("valid", 2 * DAY), ("valid", 5 * HOUR), ("invalid", FAR)]
    cases += [(r, FAR) for r in FAILING]
    for result, expires in cases:
        for failures in (1, 3):
            args = dict(
                result=result,
                expires_at=expires,
                data_access_expires_at=None,
                consecutive_failures=failures,
                retry_after=None,
                cadence=cadence,
                now=1000.0,
            )
            unjittered = next_check_at(rand=0.0, **args)  # type: ignore[arg-type]
            jittered = [next_check_at(rand=r, **args) for r in RANDS]  # type: ignore[arg-type]
            assert all(j <= unjittered for j in jittered)
            assert all(j >= 1000.0 + cadence.min_interval for j in jittered)
    near = dict(
        result="valid",
        expires_at=3 * DAY,
        data_access_expires_at=None,
        consecutive_failures=0,
        retry_after=None,
        cadence=cadence,
        now=0.0,
    )
    assert next_check_at(rand=0.999, **near) < next_check_at(rand=0.0, **near)  # type: ignore[arg-type]


# --- observe / changed --------------------------------------------------------------------------------

FP = "0123456789ab"


def info(expires: float = 5 * DAY, scopes: tuple[str, ...] = ("threads_basic",)) -> TokenInfo:
    return TokenInfo(
        is_valid=True,
        expires_at=expires,
        data_access_expires_at=90 * DAY,
        issued_at=1.0,
        scopes=scopes,
        type="USER",
        application="App",
        user_id="42",
        app_id="7",
    )


def result(
    verdict: Verdict, reason: str | None = None, token: TokenInfo | None = None, **kw: object
) -> CheckResult:
    fields: dict = dict(
        info=token,
        reason=reason,
        error_code=None,
        error_subcode=None,
        message=None,
        http_status=200,
        retry_after=None,
        usage=None,
        attempts=1,
    )
    fields.update(kw)
    return CheckResult(verdict=verdict, **fields)


def test_a_snapshot_only_when_the_observation_changed() -> None:
    first = observe(None, result(Verdict.VALID, token=info()), FP)
    assert changed(None, first)
    same = observe(first, result(Verdict.VALID, token=info()), FP)
    assert not changed(first, same)
    assert changed(first, observe(first, result(Verdict.VALID, token=info(expires=6 * DAY)), FP))
    assert changed(first, observe(first, result(Verdict.VALID, token=info(scopes=())), FP))
    expired = observe(
        first, result(Verdict.INVALID, "expired", info(), error_code=190, error_subcode=463), FP
    )
    assert changed(first, expired) and expired.is_valid is False and expired.reason == "expired"
    revoked = observe(
        expired, result(Verdict.INVALID, "revoked", info(), error_code=190, error_subcode=466), FP
    )
    assert changed(expired, revoked)
    assert changed(first, observe(first, result(Verdict.VALID, token=info()), "another-fp"))


def test_a_failing_check_keeps_the_previous_facts() -> None:
    first = observe(None, result(Verdict.VALID, token=info()), FP)
    failed = observe(first, result(Verdict.ERROR, "timeout", http_status=None), FP)
    assert failed.result == "error" and failed.reason == "timeout"
    assert (failed.is_valid, failed.expires_at, failed.scopes, failed.user_id) == (
        True,
        5 * DAY,
        "threads_basic",
        "42",
    )
    assert changed(first, failed)  # from answering to failing is one snapshot
    # A new token string (another fingerprint) that fails has no facts yet.
    fresh = observe(first, result(Verdict.ERROR, "timeout"), "another-fp")
    assert fresh.is_valid is None and fresh.expires_at is None


def test_repeated_errors_of_different_kinds_do_not_write_new_snapshots() -> None:
    first = observe(None, result(Verdict.VALID, token=info()), FP)
    failures = [
        result(Verdict.ERROR, "timeout", http_status=None),
        result(Verdict.ERROR, "http_5xx", http_status=502),
        result(Verdict.ERROR, "malformed", message="unexpected response shape"),
        result(Verdict.THROTTLED, None, error_code=4, retry_after=60.0),
        result(Verdict.ERROR, "connection", http_status=None),
        result(Verdict.ERROR, "too_large", http_status=None),
    ]
    previous = observe(first, failures[0], FP)
    snapshots = 0
    for failure in failures[1:]:
        current = observe(previous, failure, FP)
        snapshots += changed(previous, current)
        previous = current
    assert snapshots == 0
    back = observe(previous, result(Verdict.VALID, token=info()), FP)
    assert changed(previous, back) and not changed(first, back)


def test_an_inspector_problem_is_its_own_state() -> None:
    first = observe(None, result(Verdict.VALID, token=info()), FP)
    inspector = observe(first, result(Verdict.INSPECTOR, "dev_mode", http_status=400, error_code=100), FP)
    assert changed(first, inspector) and inspector.expires_at == 5 * DAY
    again = observe(
        inspector, result(Verdict.INSPECTOR, "inspector_invalid", http_status=400, error_code=190), FP
    )
    assert not changed(inspector, again)
