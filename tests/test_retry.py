"""monitor.retry: the one exponential backoff and the one Retry-After parser of the product (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.retry import MAX_RETRY_AFTER, backoff, parse_retry_after, retry_after_header

NOW = 1796119200.0  # 2026-12-01T10:00:00Z


def test_backoff_starts_at_first_and_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 10.0, 600.0) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]
    assert backoff(10**6, 10.0, 600.0) == 600.0  # no overflow for an absurd failure count
    assert backoff(0, 10.0, 600.0) == backoff(1, 10.0, 600.0) == 10.0  # "no failure yet" waits the first


@given(
    failures=st.integers(1, 200),
    first=st.floats(0.01, 1000.0),
    jitter=st.floats(0.0, 1.0),
    rand=st.floats(0.0, 1.0, exclude_max=True),
)
def test_jitter_only_shortens_and_never_below_first_times_one_minus_jitter(
    failures: int, first: float, jitter: float, rand: float
) -> None:
    cap = first * 64
    plain = backoff(failures, first, cap)
    jittered = backoff(failures, first, cap, jitter=jitter, rand=rand)
    assert first * (1 - jitter) * 0.999999 <= jittered <= plain <= cap


def test_jitter_is_a_fraction_of_the_wait() -> None:
    assert backoff(3, 300.0, 21600.0, jitter=0.2, rand=0.5) == pytest.approx(1200.0 * 0.9)
    assert backoff(3, 300.0, 21600.0, jitter=0.2, rand=0.0) == 1200.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("-5", 0.0),  # never a wait into the past
        ("2.5", 2.5),
        ("99999999", 86400.0),  # capped at 24 h
        ("Tue, 01 Dec 2026 10:00:30 GMT", 30.0),  # an HTTP date, relative to now
        ("Tue, 01 Dec 2026 09:59:00 GMT", 0.0),  # a date in the past: retry at once
        ("Sat, 01 Dec 2029 10:00:00 GMT", 86400.0),  # a date years away is capped too
    ],
)
def test_retry_after_reads_seconds_and_http_dates_capped_at_a_day(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds
    assert MAX_RETRY_AFTER == 24 * 3600


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf", "1e400", "Tue, 99 Foo 2026", "-"])
def test_retry_after_is_none_when_absent_or_unreadable(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_retry_after_header_reads_the_header_of_a_mapping() -> None:
    assert retry_after_header({"Retry-After": "Tue, 01 Dec 2026 10:01:00 GMT"}, NOW) == 60.0
    assert retry_after_header({}, NOW) is None
