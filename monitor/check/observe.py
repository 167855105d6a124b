"""One check of one token, as pure functions: what was observed, whether it changed, when to look again.

Nothing here touches the network, the database or the clock: inputs and `now` are arguments, so the
schedule and the classification are tested as plain functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from monitor.graph.results import CheckResult
from monitor.graph.wire import BY_DEBUG, BY_ME, Granular, TokenInfo
from monitor.retry import backoff
from monitor.state import ANSWERED, FAILED, Verdict

TRANSIENT = FAILED  # no answer this time, nothing learnt


@dataclass(frozen=True)
class Observation:
    """What is known about a token after a check; errors keep the previous token facts."""

    result: Verdict
    reason: str | None
    fingerprint: str
    is_valid: bool | None = None
    expires_at: float | None = None
    data_access_expires_at: float | None = None
    issued_at: float | None = None
    scopes: str | None = None
    token_type: str | None = None
    application: str | None = None
    user_id: str | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    profile_id: str | None = None
    granular_scopes: str | None = None  # JSON [{scope, target_ids?}]
    token_metadata: str | None = None  # JSON
    expiry_source: str | None = None  # debug_token | never | refresh | exchange; None: unknown
    validity_source: str | None = None  # debug_token | me

    def key(self) -> tuple:
        """What makes two observations different. A failing check is one state, whatever the failure."""
        reason = self.reason if self.result in ANSWERED else None
        # Timeouts, 5xx, garbage and throttling all mean "no answer this time": one state, so a flapping
        # network does not write a snapshot per check. An inspector problem stays distinct (unchecked).
        result = "failed" if self.result in TRANSIENT else self.result
        return (
            result,
            reason,
            self.fingerprint,
            self.is_valid,
            self.expires_at,
            self.data_access_expires_at,
            self.issued_at,
            self.scopes,
            self.token_type,
            self.application,
            self.user_id,
            self.error_code,
            self.error_subcode,
            self.profile_id,
            self.granular_scopes,
            self.token_metadata,
            self.expiry_source,
            self.validity_source,
        )

    def token_columns(self) -> dict[str, Any]:
        return {
            "is_valid": self.is_valid,
            "expires_at": self.expires_at,
            "data_access_expires_at": self.data_access_expires_at,
            "issued_at": self.issued_at,
            "scopes": self.scopes,
            "token_type": self.token_type,
            "application": self.application,
            "user_id": self.user_id,
            "error_code": self.error_code,
            "error_subcode": self.error_subcode,
            "invalid_reason": self.reason if self.result == Verdict.INVALID else None,
            **{name: getattr(self, name) for name in SPEC16_FACTS},
        }

    def snapshot_columns(self) -> dict[str, Any]:
        cols = self.token_columns()
        del cols["invalid_reason"]
        return {**cols, "result": self.result.value, "reason": self.reason, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class CheckWrite:
    """What one check writes: the token's latest observation and bookkeeping, and whether the observation
    changed (then a snapshot of it is written too). monitor.check.writes turns it into SQL parameters."""

    token_id: int
    fingerprint: str  # the string checked: a write for a string replaced meanwhile is dropped
    at: float  # when the check was made (last_check_at, observed_at, the snapshot's time)
    observation: Observation
    last_success_at: float | None
    last_error: str | None
    consecutive_failures: int
    failing_since: float | None
    next_check_at: float
    expected_scopes: str | None
    scopes_lost: bool
    expected_targets: str | None  # JSON {scope: [ids]}: the granular baseline (SPEC 16)
    changed_at: float | None  # stamps updated_at when the check changed what the alert rules read
    changed: bool  # the observation differs from the previous one: a snapshot row
    # PostgreSQL: the row's address when it was claimed (its ctid), where the write looks first (None: by id)
    address: str | None = None


SPEC16_FACTS = ("profile_id", "granular_scopes", "token_metadata", "expiry_source", "validity_source")


def granular_json(granular: Granular | None) -> str | None:
    """`granular_scopes` as stored: JSON [{scope, target_ids?}] (no target_ids: every target)."""
    if granular is None:
        return None
    entries = [{"scope": s} if ids is None else {"scope": s, "target_ids": list(ids)} for s, ids in granular]
    return json.dumps(entries, separators=(",", ":"))


def _answered(result: CheckResult, fingerprint: str) -> Observation:
    info = result.info
    return Observation(
        result=Verdict(result.verdict),
        reason=result.reason if result.verdict == Verdict.INVALID else None,
        fingerprint=fingerprint,
        is_valid=result.verdict == Verdict.VALID,
        expires_at=info.expires_at if info else None,
        data_access_expires_at=info.data_access_expires_at if info else None,
        issued_at=info.issued_at if info else None,
        # "" is an answer with no scopes (all revoked: TokenScopesLost), None is "not known".
        scopes=" ".join(sorted(info.scopes)) if info and info.scopes is not None else None,
        token_type=info.type if info else None,
        application=info.application if info else None,
        user_id=info.user_id if info else None,
        error_code=result.error_code,
        error_subcode=result.error_subcode,
        profile_id=info.profile_id if info else None,
        granular_scopes=granular_json(info.granular_scopes) if info else None,
        token_metadata=info.metadata if info else None,
        expiry_source=info.expiry_source if info else None,
        validity_source=info.validity_source if info else BY_DEBUG,
    )


def _keep_unknown(obs: Observation, info: TokenInfo | None, previous: Observation | None) -> Observation:
    """What this answer could not say is what the monitor knew: the expiry learned from its own refresh or
    exchange (an answer without `expires_at` on a platform where absent is not "never"), and every other
    fact when only GET /me answered (Instagram Login)."""
    if info is None or previous is None:
        return obs
    if info.validity_source == BY_ME:
        kept = {
            k: getattr(previous, k) for k in ("data_access_expires_at", "issued_at", "scopes", "token_type")
        }
        kept |= {k: getattr(previous, k) for k in ("application", "profile_id", "granular_scopes")}
        obs = replace(obs, token_metadata=previous.token_metadata, **kept)
    if info.expiry_source is None:
        obs = replace(obs, expires_at=previous.expires_at, expiry_source=previous.expiry_source)
    return obs


def observe(previous: Observation | None, result: CheckResult, fingerprint: str) -> Observation:
    """The observation after `result`: answers replace the facts, failures keep the previous ones."""
    verdict = Verdict(result.verdict)
    if result.verdict in ANSWERED:
        return _keep_unknown(_answered(result, fingerprint), result.info, previous)
    base = previous if previous is not None and previous.fingerprint == fingerprint else None
    if base is None:
        return Observation(result=verdict, reason=result.reason, fingerprint=fingerprint)
    return replace(base, result=verdict, reason=result.reason)


def changed(previous: Observation | None, current: Observation) -> bool:
    return previous is None or previous.key() != current.key()


@dataclass(frozen=True)
class Cadence:
    """The schedule's knobs, in seconds (from [schedule])."""

    min_interval: float = 300
    max_interval: float = 6 * 3600
    jitter: float = 0.1
    # Checks per remaining time: with 48, a token 2 days before a horizon is checked hourly.
    checks_per_horizon: float = 48


def next_check_at(
    *,
    result: Verdict | str,
    expires_at: float | None,
    data_access_expires_at: float | None,
    consecutive_failures: int,
    retry_after: float | None,
    cadence: Cadence,
    now: float,
    rand: float,
) -> float:
    """When to inspect the token again.

    Healthy: every `max_interval`, more often as a horizon nears (remaining / 48, so hourly at 2 days),
    never more often than `min_interval`. Failing: exponential backoff from `min_interval` up to
    `max_interval`, at least `retry_after`. Jitter (`rand` in [0, 1)) only ever brings forward a check that
    is due sooner than `max_interval`, and never below `min_interval` or `retry_after`: the daily call budget
    (86400 / max_interval for a healthy token) is a ceiling, not an average.
    """
    lo, hi = cadence.min_interval, max(cadence.min_interval, cadence.max_interval)
    floor = lo  # the earliest allowed check, jitter included
    if result in (*FAILED, Verdict.INSPECTOR):
        interval = backoff(consecutive_failures, lo, hi)  # jitter comes below, for every kind of interval
        if retry_after:
            floor = max(lo, min(retry_after, hi))  # the server asked us to wait: jitter must not undercut it
            interval = max(interval, floor)
    elif result == Verdict.INVALID:
        interval = hi  # dead tokens stay dead; a new string is checked at once anyway
    else:
        interval = hi
        for at in (expires_at, data_access_expires_at):
            if at is not None:
                interval = min(interval, (at - now) / cadence.checks_per_horizon)
    interval = min(hi, max(lo, interval))
    if interval < hi:
        # Jitter spreads the checks that a near horizon or a backoff brings closer. At `max_interval` the
        # cadence is exact: jitter there would make a healthy token cost more than 86400 / max_interval a day.
        interval *= 1.0 - cadence.jitter * rand
    return now + max(floor, interval)


def calls_per_day(interval_fn: Any, days: float = 1.0) -> int:
    """Count the checks a schedule makes in `days` (tests, benchmark): `interval_fn(now)` returns the next."""
    t, end, n = 0.0, days * 86400, 0
    while t < end:
        t = interval_fn(t)
        n += 1
    return n
