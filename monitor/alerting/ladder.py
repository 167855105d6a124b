"""The alert ladder, pure: one alert's stored state and what should fire now in; the new state and what to
notify out. Fire, escalate (warning -> critical), repeat every `repeat_interval`, resolve once. A
de-escalation is silent, and a later deadline (a real refresh) restarts an expiry ladder from scratch.

A mute (`held_until`: when it ends) holds back what notifiers would hear without changing what is true: the
alert still fires, escalates and ends while muted. `notified_severity` is what the notifiers last heard
firing (None: they have not heard it fire), so when the mute ends the next step tells them once what they
missed: a fire they never heard, an escalation, a repeat that fell due, or the end of an alert they heard
fire (an alert that ends during a mute is `resolving` until then; one nobody heard of ends without a word).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from monitor.notify.base import SEVERITY_RANK, AlertEvent

# Alerts whose `at` is a deadline that a refresh or re-authorisation moves later.
RESET_ON_LATER_AT = frozenset({"TokenExpiring", "TokenDataAccessExpiring"})
# A deadline this much later counts as a real refresh (API timestamps are whole seconds).
LATER_TOLERANCE = 1.0
OPEN = ("firing", "resolving")  # statuses a step may still change


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
    status: str  # firing | resolving | resolved
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
    resolved_reason: str | None = None  # why it ended; on a firing alert, why it will (its token is gone)
    held_until: float | None = None  # a mute holds back what the notifiers should hear, until then


Step = tuple[AlertState | None, tuple[AlertEvent, ...]]


def resolves(stored: AlertState | None, desired: Desired | None) -> bool:
    """Whether `step` ends this firing alert (the caller then gives the reason why)."""
    if stored is None or stored.status != "firing":
        return False
    return desired is None or _refreshed(stored, desired)


def step(
    stored: AlertState | None,
    desired: Desired | None,
    repeat_interval: float,
    now: float,
    *,
    held_until: float | None = None,
    reason: str | None = None,
) -> Step:
    """Move one alert's ladder to `now`: the state to store (None: nothing stored) and what to notify.
    `held_until`: a mute is in force until then; `reason`: why the alert ends, if it does."""
    if stored is not None and stored.status == "resolving":
        return _owed(stored, desired, now, held_until)
    firing = stored is not None and stored.status == "firing"
    if desired is None:
        if stored is None or not firing:
            return stored, ()
        return _resolve(stored, now, reason, held_until)
    if stored is None or not firing:
        return _fire(stored, desired, now, held_until)
    if _refreshed(stored, desired):
        resolved, events = _resolve(stored, now, reason, held_until)
        fired, more = _fire(resolved, desired, now, held_until)
        return fired, events + more
    return _progress(stored, desired, repeat_interval, now, held_until)


def _refreshed(stored: AlertState, desired: Desired) -> bool:
    return (
        desired.alertname in RESET_ON_LATER_AT
        and stored.at is not None
        and desired.at is not None
        and desired.at > stored.at + LATER_TOLERANCE
    )


def _fire(previous: AlertState | None, d: Desired, now: float, held: float | None) -> Step:
    # An alert that ended during a mute and fires again before the notifiers heard the end: to them it
    # never stopped, so what they heard carries over.
    carried = previous is not None and previous.status == "resolving"
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
        last_notified_at=previous.last_notified_at if carried and previous else None,
        notified_severity=previous.notified_severity if carried and previous else None,
        token_id=d.token_id,
        held_until=held,
    )
    if held is not None:
        return state, ()
    state = replace(state, last_notified_at=now, notified_severity=d.severity)
    return state, (event(state, "fire", d.at),)


def _resolve(stored: AlertState, now: float, reason: str | None, held: float | None) -> Step:
    # The resolve goes where the loudest notification went, so a critical-only channel hears the end too.
    heard = stored.notified_severity
    severity = heard or stored.severity
    ended = replace(
        stored,
        resolved_at=now,
        resolved_reason=reason or stored.resolved_reason,
        severity=severity,
        labels={**stored.labels, "severity": severity},
    )
    if heard is None:  # fired and ended under a mute: nobody heard of it, nobody needs to hear the end
        return replace(ended, status="resolved", held_until=None), ()
    if held is not None:  # the end is owed to those who heard it fire, once the mute ends
        return replace(ended, status="resolving", held_until=held), ()
    state = replace(ended, status="resolved", notified_severity=None, held_until=None)
    return state, (event(state, "resolve", stored.at),)


def _owed(stored: AlertState, desired: Desired | None, now: float, held: float | None) -> Step:
    """An alert that ended during a mute, its end not told yet."""
    if held is not None:
        if desired is not None:
            return _fire(stored, desired, now, held)
        return (stored if stored.held_until == held else replace(stored, held_until=held)), ()
    told = replace(stored, status="resolved", notified_severity=None, held_until=None)
    events: tuple[AlertEvent, ...] = (event(told, "resolve", stored.at),)
    if desired is None:
        return told, events
    fired, more = _fire(told, desired, now, None)
    return fired, events + more


def _progress(stored: AlertState, d: Desired, repeat_interval: float, now: float, held: float | None) -> Step:
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
        resolved_reason=None,  # a removal's reason no longer applies: a token of that name fires again
        held_until=held,
    )
    if held is not None:
        return current, ()
    if stored.notified_severity is None:  # it fired during a mute: now they hear it, once
        state = replace(current, last_notified_at=now, notified_severity=d.severity)
        return state, (event(state, "fire", d.at),)
    rank = SEVERITY_RANK.get(d.severity, 0)
    if rank > SEVERITY_RANK.get(stored.notified_severity or "", 0):
        state = replace(current, last_notified_at=now, notified_severity=d.severity)
        return state, (event(state, "escalate", d.at),)
    if stored.last_notified_at is None or now - stored.last_notified_at >= repeat_interval:
        state = replace(current, last_notified_at=now, notified_severity=d.severity)
        return state, (event(state, "repeat", d.at),)
    return current, ()


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex chars identifying the alert (its labels without severity, which escalation changes)."""
    text = "\x00".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "severity")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        reason=state.resolved_reason if resolved else None,
    )
