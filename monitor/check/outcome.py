"""What one check's outcome writes: the token row's new values and, when the observation changed, a snapshot.

Pure: the claimed row, the API's answer, the cadence, `now` and a random number in, column values out. Also
the sweep's value types (one outcome, a sweep's counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from monitor.check.observe import ANSWERED, Cadence, Observation, changed, next_check_at, observe
from monitor.check.store import Claimed
from monitor.graph.results import CheckResult, Verdict
from monitor.state import Horizons, State, lost_scopes, token_state


@dataclass
class SweepStats:
    inspected: int = 0
    results: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deferred: int = 0
    budget_exhausted: bool = False
    stopped: bool = False


@dataclass(frozen=True)
class CheckOutcome:
    claimed: Claimed
    result: CheckResult
    duration: float


def quiet_first(c: Claimed, obs: Observation, horizons: Horizons | None, now: float) -> bool:
    """A token's first observation that no alert rule has anything to say about: its state OK (valid, both
    horizons outside their warning; a later crossing is found by the alert evaluation's time ranges).
    Unknown thresholds (None) say nothing is quiet."""
    if c.previous is not None or horizons is None:
        return False
    state = token_state(
        is_valid=obs.is_valid,
        expires_at=obs.expires_at,
        data_access_expires_at=obs.data_access_expires_at,
        last_result=obs.result,
        horizons=horizons,
        now=now,
    )
    return state == State.OK


def result_rows(
    c: Claimed,
    r: CheckResult,
    cadence: Cadence,
    now: float,
    rand: float,
    horizons: Horizons | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(values for the token row, keyed for store.write_results; a snapshot row or None). `horizons` (the
    alert thresholds) let a quiet first observation leave `updated_at` alone."""
    obs = observe(c.previous, r, c.fingerprint)
    answered = r.verdict in ANSWERED
    failures = 0 if answered else c.consecutive_failures + 1
    nxt = next_check_at(
        result=obs.result,
        expires_at=obs.expires_at,
        data_access_expires_at=obs.data_access_expires_at,
        consecutive_failures=failures,
        retry_after=r.retry_after,
        cadence=cadence,
        now=now,
        rand=rand,
    )
    # The first valid answer sets the scope baseline; losing any of it is TokenScopesLost (a column, so the
    # alert evaluation finds such tokens through an index).
    expected = c.expected_scopes
    if expected is None and obs.is_valid and obs.scopes is not None:
        expected = obs.scopes
    update = {
        "b_id": c.id,
        "b_fp": c.fingerprint,
        "expected_scopes": expected,
        "scopes_lost": bool(obs.is_valid) and bool(lost_scopes(expected, obs.scopes)),
        "last_check_at": now,
        "last_success_at": now if answered else c.last_success_at,
        "last_result": obs.result,
        "last_error": None if r.verdict == Verdict.VALID else error_text(r),
        "consecutive_failures": failures,
        "failing_since": None if answered else (c.failing_since or now),
        "next_check_at": nxt,
        "observed_at": now,
        **obs.token_columns(),
    }
    snapshot = (
        {"token_id": c.id, "observed_at": now, **obs.snapshot_columns()} if changed(c.previous, obs) else None
    )
    # A change of what the alert rules read stamps `updated_at`: the alert evaluation looks at such tokens
    # (and not at the fleet) between its full passes. A check that saw what the last one saw stamps nothing,
    # nor does a healthy token's first answer (most of a freshly imported fleet's first sweep).
    observed = snapshot is not None and not quiet_first(c, obs, horizons, now)
    facts_changed = observed or (update["failing_since"] is None) != (c.failing_since is None)
    update["b_changed"] = now if facts_changed else None
    return update, snapshot


def error_text(r: CheckResult) -> str:
    """The stored `last_error`: reason, code/subcode and the API's (already redacted) message."""
    parts = [r.reason or r.verdict.value]
    if r.error_code is not None:
        parts.append(f"code {r.error_code}" + (f"/{r.error_subcode}" if r.error_subcode is not None else ""))
    if r.message:
        parts.append(r.message)
    return ": ".join(parts)[:300]
