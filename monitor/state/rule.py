"""What a token's latest observation means now: ok, warning, critical, invalid or unchecked. Pure.

monitor.state.sql writes the same rule for queries; tests/state/test_sql_forms.py holds the two equal on
every backend. A change of rule is an edit here and there, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DAY = 86400.0


class State(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    INVALID = "invalid"
    UNCHECKED = "unchecked"


STATES = tuple(State)


class Verdict(StrEnum):
    """What the latest check said of a token (stored as `tokens.last_result`)."""

    VALID = "valid"
    INVALID = "invalid"
    INSPECTOR = "inspector"  # the app's inspector credential was refused: no verdict on the token
    THROTTLED = "throttled"
    ERROR = "error"


class InspectorState(StrEnum):
    """What the latest check said of an app's inspector credential (stored as `apps.inspector_state`)."""

    OK = "ok"
    INVALID = "invalid"


ANSWERED = (Verdict.VALID, Verdict.INVALID)  # the API said something about the token itself
FAILED = (Verdict.ERROR, Verdict.THROTTLED)  # no answer this time: the last answer still holds
# The fleet page's groups, trouble first: a state, or "failing" (an ok token whose latest check failed).
BUCKETS = ("invalid", "critical", "warning", "failing", "unchecked", "ok")


@dataclass(frozen=True)
class Horizons:
    """Warning and critical thresholds (seconds before the event) for both expiry horizons."""

    expiry_warning: float = 7 * DAY
    expiry_critical: float = 2 * DAY
    data_access_warning: float = 14 * DAY
    data_access_critical: float = 3 * DAY

    @classmethod
    def from_alerts(cls, alerts: object) -> Horizons:
        """Build from a config.AlertsConfig (duck-typed to keep this module free of config imports)."""
        expiry, data = alerts.expiry, alerts.data_access  # type: ignore[attr-defined]
        return cls(expiry.warning, expiry.critical, data.warning, data.critical)


def horizon_level(at: float | None, warning: float, critical: float, now: float) -> State:
    """OK, WARNING or CRITICAL for one horizon (None means never expires)."""
    if at is None:
        return State.OK
    left = at - now
    if left <= critical:
        return State.CRITICAL
    if left <= warning:
        return State.WARNING
    return State.OK


def seen_result(last_result: str | None, inspector_state: str | None) -> str | None:
    """The token's latest result as the rule reads it: "inspector" while its app's inspector credential is
    refused (whatever the token's own last check said), else its own."""
    return Verdict.INSPECTOR if inspector_state == InspectorState.INVALID else last_result


def token_state(
    *,
    is_valid: bool | None,
    expires_at: float | None,
    data_access_expires_at: float | None,
    last_result: str | None,
    horizons: Horizons,
    now: float,
) -> State:
    """The token's state now. An inspector problem makes it unchecked: it is no verdict on the token."""
    if last_result == Verdict.INSPECTOR or is_valid is None:
        return State.UNCHECKED
    if not is_valid:
        return State.INVALID
    levels = (
        horizon_level(expires_at, horizons.expiry_warning, horizons.expiry_critical, now),
        horizon_level(
            data_access_expires_at, horizons.data_access_warning, horizons.data_access_critical, now
        ),
    )
    if State.CRITICAL in levels:
        return State.CRITICAL
    if State.WARNING in levels:
        return State.WARNING
    return State.OK


def bucket_of(state: State, last_result: str | None) -> str:
    """The fleet page's group of a token in `state` (one of BUCKETS)."""
    return "failing" if state == State.OK and last_result in FAILED else state.value


def mute_in_force(token_until: float | None, app_until: float | None, now: float) -> float | None:
    """When the mute in force on a token ends (its own or its app's, whichever is later); None: none is."""
    ends = [at for at in (token_until, app_until) if at is not None and at > now]
    return max(ends) if ends else None


def expiry_word(
    expires_at: float | None, expiry_source: str | None, validity_source: str | None
) -> str | None:
    """None when the token has an expiry; else "never" (debug_token said so: `expires_at` absent or 0; and
    every row checked before the sources were kept) or "unknown" (an answer that could not describe it, such
    as GET /me for an Instagram Login token, and no refresh of the monitor's told it yet). Either way the
    rule above sees no expiry horizon: no expiry alert, never refreshed for it."""
    if expires_at is not None:
        return None
    return "unknown" if expiry_source is None and validity_source is not None else "never"


def lost_scopes(expected: str | None, scopes: str | None) -> list[str]:
    """Scopes in the baseline that the latest observation no longer has, sorted."""
    if not expected or scopes is None:
        return []
    return sorted(set(expected.split()) - set(scopes.split()))


_TROUBLE_RANK = {State.INVALID: 0, State.CRITICAL: 1, State.WARNING: 2, State.UNCHECKED: 3, State.OK: 4}


def trouble_key(state: State, expires_at: float | None, data_access_expires_at: float | None) -> tuple:
    """Sort key: worst state first, then soonest expiry of either horizon."""
    soonest = min((t for t in (expires_at, data_access_expires_at) if t is not None), default=float("inf"))
    return (_TROUBLE_RANK[state], soonest)
