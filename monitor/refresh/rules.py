"""Automatic refresh as pure decisions: which token is due, how long to back off, what a failure means.

Nothing here touches the clock, the database or the network; `now` and random numbers are arguments.
monitor/refresh.py runs them (its SQL selects the same tokens `eligible` accepts).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from monitor import retry
from monitor.config.model import RefreshConfig
from monitor.graph.results import RefreshResult, Verdict

MIN_BACKOFF = 300.0  # 5 min after the first retryable failure ...
MAX_BACKOFF = 6 * 3600.0  # ... doubling up to 6 h
JITTER = 0.2  # a backoff is shortened by up to this fraction, so many failures do not retry in lockstep
# A permanent refusal (expired, revoked, too young, missing permission) is not retried for the same string:
# next_refresh_at moves this far out. A new string (registry or source update) resets the refresh fields.
PERMANENT_HOLD = 100 * 365 * 86400.0


class Outcome(StrEnum):
    REFRESHED = "refreshed"
    RETRYABLE = "retryable"  # throttled, 5xx, timeouts, connection problems, garbage answers
    PERMANENT = "permanent"  # the API refused this string; asking again cannot help


@dataclass(frozen=True)
class RefreshFacts:
    """The token columns eligibility reads."""

    auto_refresh: bool
    is_valid: bool | None
    expires_at: float | None
    issued_at: float | None
    secret_changed_at: float
    next_refresh_at: float | None
    writeback_pending: bool
    last_refresh_at: float | None = None
    # Whether a server renews a token of this kind at all (monitor.graph.platforms: Threads and Instagram
    # user tokens, Facebook system-user tokens with an expiry); a Facebook user, Page or app token is not.
    renewable: bool = True
    # The expiry is unknown because only GET /me answers for the token (Instagram Login): one refresh, once
    # the string is old enough, tells it (`expires_in`); "never" is not unknown and is never refreshed.
    expiry_unknown: bool = False


def issued(t: RefreshFacts) -> float:
    """When the current string was issued: debug_token's issued_at, else when we stored the string."""
    return t.issued_at if t.issued_at is not None else t.secret_changed_at


def eligible(t: RefreshFacts, cfg: RefreshConfig, now: float) -> bool:
    """True when the token should be refreshed at `now`.

    Refresh is on globally and for the token; a server renews its kind; the last inspection said valid;
    the expiry is known, not passed and less than `cfg.before` away; the string is at least
    `cfg.min_age` old (the API refuses younger ones) and the last refresh too (an API that keeps answering
    with the old expiry must not be asked again at once); no backoff is running; no earlier refreshed
    string still waits to be written back.
    """
    if not (cfg.enabled and t.auto_refresh and t.renewable and t.is_valid is True):
        return False
    if t.expires_at is None:  # never expires ("never": refreshing would make it a 60-day one), or unknown
        if not t.expiry_unknown:
            return False
    elif not (now < t.expires_at and t.expires_at - now < cfg.before):
        return False
    if issued(t) > now - cfg.min_age:
        return False
    if t.last_refresh_at is not None and t.last_refresh_at > now - cfg.min_age:
        return False
    if t.next_refresh_at is not None and t.next_refresh_at > now:
        return False
    return not t.writeback_pending


def backoff(failures: int, rand: float = 0.0) -> float:
    """Seconds to wait after `failures` consecutive retryable failures (>= 1); `rand` in [0, 1) is jitter."""
    return retry.backoff(failures, MIN_BACKOFF, MAX_BACKOFF, jitter=JITTER, rand=rand)


def classify(result: RefreshResult) -> Outcome:
    """A refresh answer as an outcome: refreshed, worth retrying later, or refused for good."""
    if result.ok and result.access_token:
        return Outcome.REFRESHED
    if result.verdict in (Verdict.THROTTLED, Verdict.ERROR):
        return Outcome.RETRYABLE
    return Outcome.PERMANENT  # INVALID: expired, revoked, password changed, unparseable, too young, ...


def next_attempt(
    outcome: Outcome, failures: int, retry_after: float | None, now: float, rand: float
) -> float:
    """When a failed token may be refreshed again: backoff (at least Retry-After), or the permanent hold."""
    if outcome is Outcome.PERMANENT:
        return now + PERMANENT_HOLD
    return now + max(backoff(failures, rand), retry_after or 0.0)


MOVED_ENOUGH = 3600.0  # a refresh must push the expiry at least this far, or it did not work


def moved(before: float | None, after: float | None) -> bool:
    """Whether a refresh moved the expiry forward: the inspection after it shows a later `expires_at`
    (an unknown or "never" expiry after the refresh counts as moved; nothing to compare)."""
    return before is None or after is None or after >= before + MOVED_ENOUGH


UNMOVED = "refresh did not move the expiry: the API still reports the old one (tried again after min_age)"


def error_text(result: RefreshResult) -> str:
    """One line for `tokens.refresh_error` (shown by TokenRefreshFailed); the API message is redacted."""
    parts = [f"refresh {result.verdict.value}", result.reason or ""]
    if result.error_code is not None:
        sub = f"/{result.error_subcode}" if result.error_subcode is not None else ""
        parts.append(f"code {result.error_code}{sub}")
    if result.message:
        parts.append(result.message)
    return ": ".join(p for p in parts if p)[:300]
