"""What one check's outcome writes (a CheckWrite: the token's new values and, when the observation changed,
a snapshot).

Pure: the claimed row, the API's answer, the cadence, `now` and a random number in, a value out. Also
the sweep's value types (one outcome, a sweep's counts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.check.observe import (
    ANSWERED,
    Cadence,
    CheckWrite,
    Observation,
    changed,
    next_check_at,
    observe,
)
from monitor.check.store import Claimed
from monitor.graph.granular import lost_targets, targets_baseline
from monitor.graph.results import CheckResult, Verdict
from monitor.state import Horizons, InspectorState, State, lost_scopes, token_state

PAUSE_AT_PERCENT = 95.0  # usage headers at or above this pause an app's checks until access is regained
UNSTORABLE = CheckResult(
    Verdict.ERROR, None, "unstorable", None, None, "the answer does not fit the registry", None, None, None, 0
)


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


@dataclass
class CheckRun:
    """Checks asked for at once: the tokens leased for them, the outcomes stored, and whether the run was
    stopped (or failed) before every leased token was answered (those were released unchecked)."""

    claimed: list[Claimed]
    outcomes: list[CheckOutcome] = field(default_factory=list)
    interrupted: bool = False


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


def check_write(
    c: Claimed,
    r: CheckResult,
    cadence: Cadence,
    now: float,
    rand: float,
    horizons: Horizons | None = None,
) -> CheckWrite:
    """What the check of `c` that answered `r` writes. `horizons` (the alert thresholds) let a quiet first
    observation leave `updated_at` alone."""
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
    # The same for the targets of granular scopes: a Page taken out of a grant is a scope lost in part.
    targets = c.expected_targets
    if targets is None and obs.is_valid and obs.granular_scopes is not None:
        targets = targets_baseline(obs.granular_scopes)
    lost = lost_scopes(expected, obs.scopes) or lost_targets(targets, obs.granular_scopes)
    failing_since = None if answered else (c.failing_since or now)
    snapshot = changed(c.previous, obs)
    # A change of what the alert rules read stamps `updated_at`: the alert evaluation looks at such tokens
    # (and not at the fleet) between its full passes. A check that saw what the last one saw stamps nothing,
    # nor does a healthy token's first answer (most of a freshly imported fleet's first sweep).
    observed = snapshot and not quiet_first(c, obs, horizons, now)
    facts_changed = observed or (failing_since is None) != (c.failing_since is None)
    return CheckWrite(
        token_id=c.id,
        fingerprint=c.fingerprint,
        at=now,
        observation=obs,
        last_success_at=now if answered else c.last_success_at,
        last_error=None if r.verdict == Verdict.VALID else error_text(r),
        consecutive_failures=failures,
        failing_since=failing_since,
        next_check_at=nxt,
        expected_scopes=expected,
        scopes_lost=bool(obs.is_valid) and bool(lost),
        expected_targets=targets,
        changed_at=now if facts_changed else None,
        changed=snapshot,
        address=c.address,
    )


def error_text(r: CheckResult) -> str:
    """The stored `last_error`: reason, code/subcode and the API's (already redacted) message."""
    parts = [r.reason or r.verdict.value]
    if r.error_code is not None:
        parts.append(f"code {r.error_code}" + (f"/{r.error_subcode}" if r.error_subcode is not None else ""))
    if r.message:
        parts.append(r.message)
    return ": ".join(parts)[:300]


def inspector_states(
    outcomes: Sequence[CheckOutcome],
) -> list[tuple[int, InspectorState, str | None, str | None]]:
    """(app id, its inspector state, reason, message) for each app a batch of outcomes says something about:
    one refusal of its inspector credential outweighs any answer."""
    apps: dict[int, CheckResult] = {}
    for o in outcomes:
        refused = o.result.verdict == Verdict.INSPECTOR
        apps[o.claimed.app_id] = o.result if refused else apps.get(o.claimed.app_id, o.result)
    out = []
    for app_id, r in apps.items():
        if r.verdict == Verdict.INSPECTOR:
            out.append((app_id, InspectorState.INVALID, r.reason, r.message))
        elif r.verdict in ANSWERED:
            out.append((app_id, InspectorState.OK, None, None))
    return out


def pause_for(r: CheckResult, min_interval: float) -> float | None:
    """Seconds to pause an app's checks after this answer (throttled, or usage near the limit), else None.
    An inspector problem has a backoff of its own (monitor.check.probe)."""
    if r.verdict == Verdict.INSPECTOR:
        return None
    usage_high = r.usage is not None and r.usage.max_percent() >= PAUSE_AT_PERCENT
    if r.verdict != Verdict.THROTTLED and not usage_high:
        return None
    return r.retry_after or (r.usage.regain_after if r.usage else None) or min_interval
