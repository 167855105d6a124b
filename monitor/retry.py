"""Waiting after failures, written once: exponential backoff with jitter, and the Retry-After header.

Every retry loop of the product (API calls, refreshes, checks, inspector probes, notification deliveries, the
listener's accept loop) asks `backoff` with its own first wait and cap; every Retry-After the product reads
(from the Threads API or a notification receiver) goes through `parse_retry_after`. Pure: no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["MAX_RETRY_AFTER", "backoff", "parse_retry_after", "retry_after_header"]

MAX_RETRY_AFTER = 86400.0  # a server asking for more than a day is capped: we ask again after a day


def backoff(failures: int, first: float, cap: float, *, jitter: float = 0.0, rand: float = 0.0) -> float:
    """Seconds to wait after `failures` (>= 1) consecutive failures: `first`, doubling per failure, at most
    `cap`.

    Jitter only ever shortens the wait: by up to the fraction `jitter` (0..1), scaled by `rand` in [0, 1).
    So the wait stays within [`first` x (1 - `jitter`), `cap`], many clients that failed together do not
    retry in lockstep, and a cap meant as a ceiling (a call budget) is never exceeded.
    """
    steps = min(max(failures, 1) - 1, 60)  # 2**60 x any sane `first` is past any cap
    base = min(cap, first * 2.0**steps)
    return base * (1.0 - jitter * rand)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3) relative
    to `now` (Unix seconds); at least 0, at most MAX_RETRY_AFTER; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # "-0000": an HTTP date is in GMT anyway
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def retry_after_header(headers: Mapping[str, str], now: float) -> float | None:
    """`parse_retry_after` of the Retry-After header in `headers` (None without one)."""
    return parse_retry_after(headers.get("Retry-After"), now)
