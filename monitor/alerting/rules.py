"""The alert rules and the alert ladder. Pure: inputs and `now` in, new state and events out.

`token_alerts`, `app_alerts` and `source_alerts` say which alerts *should* be firing for one subject now
(`Desired`); `step` moves one alert's stored ladder (`AlertState`) towards that and says what to notify:
fire, escalate (warning -> critical), repeat every `repeat_interval`, resolve once. A de-escalation is silent,
and a later `expires_at` (a real refresh) restarts the expiry ladders from scratch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.notify.base import SEVERITY_RANK, AlertEvent
from monitor.state import State, horizon_level, lost_scopes

# Alerts whose `at` is a deadline that a refresh or re-authorisation moves later.
RESET_ON_LATER_AT = frozenset({"TokenExpiring", "TokenDataAccessExpiring"})
# A deadline this much later counts as a real refresh (API timestamps are whole seconds).
LATER_TOLERANCE = 1.0


@dataclass(frozen=True)
class Desired:
    """An alert that should be firing now, as the rules see it."""

    key: str
    alertname: str
    subject: str
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    at: float | None = None
    token_id: int | None = None


@dataclass(frozen=True)
class AlertState:
    """One alert's stored ladder (a row of `alerts`)."""

    key: str
    alertname: str
    subject: str
    status: str  # firing | resolved
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    fingerprint: str
    at: float | None
    started_at: float
    last_notified_at: float | None
    notified_severity: str | None
    resolved_at: float | None = None
    token_id: int | None = None


@dataclass(frozen=True)
class TokenFacts:
    """What the rules read about one token: its stored row (latest observation) and its app's name."""

    id: int
    name: str
    app: str
    labels: Mapping[str, Any]
    is_valid: bool | None
    last_result: str | None
    expires_at: float | None
    data_access_expires_at: float | None
    scopes: str | None
    expected_scopes: str | None
    invalid_reason: str | None
    failing_since: float | None
    last_error: str | None
    refresh_error: str | None


def alert_key(alertname: str, subject: str) -> str:
    return f"{alertname}/{subject}"


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex chars identifying the alert (its labels without severity, which escalation changes)."""
    text = "\x00".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "severity")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _level(at: float | None, warning: float, critical: float, now: float) -> str | None:
    """The alert severity for one horizon: the same rule as the token's state (monitor.state)."""
    level = horizon_level(at, warning, critical, now)
    return None if level is State.OK else level.value


def token_alerts(t: TokenFacts, cfg: Any, now: float) -> list[Desired]:
    """The alerts that should fire for token `t` at `now` under `cfg` (an AlertsConfig)."""
    base = {str(k): str(v) for k, v in (t.labels or {}).items()}
    base.update(token=t.name, app=t.app)
    out: list[Desired] = []

    def add(
        name: str,
        severity: str,
        extra: Mapping[str, str] | None = None,
        *,
        at: float | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        labels = {**base, **(extra or {}), "alertname": name, "severity": severity}
        out.append(
            Desired(
                alert_key(name, t.name), name, t.name, severity, labels, dict(annotations or {}), at, t.id
            )
        )

    if t.is_valid:
        level = _level(t.expires_at, cfg.expiry.warning, cfg.expiry.critical, now)
        if level:
            add("TokenExpiring", level, at=t.expires_at)
        level = _level(t.data_access_expires_at, cfg.data_access.warning, cfg.data_access.critical, now)
        if level:
            add("TokenDataAccessExpiring", level, at=t.data_access_expires_at)
        lost = lost_scopes(t.expected_scopes, t.scopes)
        if lost:
            add("TokenScopesLost", "warning", {"scopes": ", ".join(lost)})
    elif t.is_valid is False:
        add("TokenInvalid", "critical", {"reason": t.invalid_reason or "unknown"})
    # An inspector problem is reported once per app (InspectorInvalid), not once per token.
    failing = t.failing_since is not None and now - t.failing_since >= cfg.check_failing_after
    if failing and t.last_result != "inspector":
        add("TokenCheckFailing", "warning", annotations=_error(t.last_error), at=t.failing_since)
    if t.refresh_error:
        near = t.expires_at is not None and t.expires_at - now <= cfg.expiry.critical
        add(
            "TokenRefreshFailed",
            "critical" if near else "warning",
            at=t.expires_at,
            annotations=_error(t.refresh_error),
        )
    return out


def _error(text: str | None) -> dict[str, str]:
    return {"error": text} if text else {}


def app_alerts(app: str, reason: str | None) -> list[Desired]:
    """InspectorInvalid for an app whose inspector credential was refused."""
    labels = {
        "alertname": "InspectorInvalid",
        "app": app,
        "severity": "critical",
        "reason": reason or "unknown",
    }
    subject = f"app:{app}"
    return [Desired(alert_key("InspectorInvalid", subject), "InspectorInvalid", subject, "critical", labels)]


def source_alerts(source: str, error: str | None) -> list[Desired]:
    """SourceFailing for a `[[sources]]` entry whose last sync failed."""
    labels = {"alertname": "SourceFailing", "source": source, "severity": "warning"}
    subject = f"source:{source}"
    return [
        Desired(
            alert_key("SourceFailing", subject), "SourceFailing", subject, "warning", labels, _error(error)
        )
    ]


# --- the ladder ------------------------------------------------------------------------------------------

Step = tuple[AlertState | None, tuple[AlertEvent, ...]]


def step(stored: AlertState | None, desired: Desired | None, repeat_interval: float, now: float) -> Step:
    """Move one alert's ladder to `now`: the state to store (None: nothing stored) and what to notify."""
    firing = stored is not None and stored.status == "firing"
    if desired is None:
        if stored is None or not firing:
            return stored, ()
        return _resolve(stored, now)
    if stored is None or not firing:
        return _fire(stored, desired, now)
    assert stored is not None
    if _refreshed(stored, desired):
        resolved, events = _resolve(stored, now)
        fired, more = _fire(resolved, desired, now)
        return fired, events + more
    return _progress(stored, desired, repeat_interval, now)


def _refreshed(stored: AlertState, desired: Desired) -> bool:
    return (
        desired.alertname in RESET_ON_LATER_AT
        and stored.at is not None
        and desired.at is not None
        and desired.at > stored.at + LATER_TOLERANCE
    )


def _fire(previous: AlertState | None, d: Desired, now: float) -> Step:
    state = AlertState(
        key=d.key,
        alertname=d.alertname,
        subject=d.subject,
        status="firing",
        severity=d.severity,
        labels=dict(d.labels),
        annotations=dict(d.annotations),
        fingerprint=labels_fingerprint(d.labels),
        at=d.at,
        started_at=now,
        last_notified_at=now,
        notified_severity=d.severity,
        resolved_at=None,
        token_id=d.token_id,
    )
    return state, (event(state, "fire", d.at),)


def _resolve(stored: AlertState, now: float) -> Step:
    # The resolve goes where the loudest notification went, so a critical-only channel hears the end too.
    severity = stored.notified_severity or stored.severity
    state = replace(
        stored,
        status="resolved",
        resolved_at=now,
        severity=severity,
        labels={**stored.labels, "severity": severity},
    )
    return state, (event(state, "resolve", stored.at),)


def _progress(stored: AlertState, d: Desired, repeat_interval: float, now: float) -> Step:
    # A deadline that moved earlier is news for the message, but only a later one restarts the ladder; the
    # stored reference keeps the latest seen, so an observation flapping between two values stays quiet.
    at = d.at if stored.at is None or d.at is None else max(stored.at, d.at)
    current = replace(
        stored,
        severity=d.severity,
        labels=dict(d.labels),
        annotations=dict(d.annotations),
        at=at,
        token_id=d.token_id,
        fingerprint=labels_fingerprint(d.labels),
    )
    rank = SEVERITY_RANK.get(d.severity, 0)
    if rank > SEVERITY_RANK.get(stored.notified_severity or "", 0):
        state = replace(current, last_notified_at=now, notified_severity=d.severity)
        return state, (event(state, "escalate", d.at),)
    if stored.last_notified_at is None or now - stored.last_notified_at >= repeat_interval:
        state = replace(current, last_notified_at=now, notified_severity=d.severity)
        return state, (event(state, "repeat", d.at),)
    return current, ()


def event(state: AlertState, kind: str, at: float | None) -> AlertEvent:
    """The notification for `state` at one step of its ladder."""
    resolved = state.status == "resolved"
    return AlertEvent(
        alertname=state.alertname,
        status=state.status,
        severity=state.severity,
        labels=dict(state.labels),
        annotations=dict(state.annotations),
        starts_at=state.started_at,
        ends_at=state.resolved_at if resolved else None,
        fingerprint=state.fingerprint,
        at=at,
        kind=kind,
    )
