"""The ladder under a mute, pure: what fires, escalates, repeats or ends during a mute is held back, and the
first step after the mute tells the notifiers once what they missed, never twice and never nothing."""

from __future__ import annotations

from monitor.alerting.ladder import AlertState, Desired, step
from monitor.alerting.reasons import resolution_reason
from monitor.alerting.rules import TokenFacts

DAY, HOUR = 86400.0, 3600.0
T0 = 1_800_000_000.0
REPEAT = DAY
MUTE_END = T0 + 3 * DAY


def invalid(severity: str = "critical") -> Desired:
    labels = {"alertname": "TokenInvalid", "token": "acme", "app": "growth", "severity": severity}
    return Desired("TokenInvalid/acme", "TokenInvalid", "acme", severity, labels, token_id=1)


def expiring(severity: str, at: float = T0 + 5 * DAY) -> Desired:
    labels = {"alertname": "TokenExpiring", "token": "acme", "app": "growth", "severity": severity}
    return Desired("TokenExpiring/acme", "TokenExpiring", "acme", severity, labels, at=at, token_id=1)


def kinds(events: tuple) -> list[tuple[str, str]]:
    return [(e.kind, e.severity) for e in events]


def test_a_fire_during_a_mute_is_told_once_when_it_ends() -> None:
    state, events = step(None, invalid(), REPEAT, T0, held_until=MUTE_END)
    assert events == () and state is not None and state.status == "firing"
    assert state.notified_severity is None and state.held_until == MUTE_END
    for t in (T0 + HOUR, T0 + 2 * DAY):  # a repeat would be due: still nothing
        state, events = step(state, invalid(), REPEAT, t, held_until=MUTE_END)
        assert events == ()
    state, events = step(state, invalid(), REPEAT, MUTE_END + 1)
    assert kinds(events) == [("fire", "critical")] and events[0].starts_at == T0
    assert state is not None and state.held_until is None and state.notified_severity == "critical"
    state, events = step(state, invalid(), REPEAT, MUTE_END + 2)
    assert events == ()  # once, not again


def test_a_repeat_that_fell_due_during_the_mute_is_sent_once_after_it() -> None:
    state, events = step(None, invalid(), REPEAT, T0)
    assert kinds(events) == [("fire", "critical")]
    state, events = step(state, invalid(), REPEAT, T0 + 2 * DAY, held_until=MUTE_END)
    assert events == ()
    state, events = step(state, invalid(), REPEAT, MUTE_END + 1)
    assert kinds(events) == [("repeat", "critical")]
    state, events = step(state, invalid(), REPEAT, MUTE_END + 2)
    assert events == ()


def test_a_mute_shorter_than_the_repeat_interval_sends_nothing_at_its_end() -> None:
    state, _ = step(None, invalid(), REPEAT, T0)
    state, events = step(state, invalid(), REPEAT, T0 + HOUR, held_until=T0 + 2 * HOUR)
    assert events == ()
    state, events = step(state, invalid(), REPEAT, T0 + 2 * HOUR + 1)
    assert events == ()  # they heard it fire an hour ago: no duplicate


def test_an_escalation_during_the_mute_is_told_once_after_it() -> None:
    state, _ = step(None, expiring("warning"), REPEAT, T0)
    state, events = step(state, expiring("critical"), REPEAT, T0 + HOUR, held_until=MUTE_END)
    assert events == () and state is not None and state.severity == "critical"
    state, events = step(state, expiring("critical"), REPEAT, MUTE_END + 1)
    assert kinds(events) == [("escalate", "critical")]


def test_an_end_during_the_mute_is_owed_to_those_who_heard_the_fire() -> None:
    state, _ = step(None, invalid(), REPEAT, T0)
    state, events = step(state, None, REPEAT, T0 + HOUR, held_until=MUTE_END, reason="replaced")
    assert events == () and state is not None and state.status == "resolving"
    state, events = step(state, None, REPEAT, T0 + 2 * HOUR, held_until=MUTE_END)
    assert events == () and state is not None and state.status == "resolving"
    state, events = step(state, None, REPEAT, MUTE_END + 1)
    assert [(e.kind, e.status, e.reason) for e in events] == [("resolve", "resolved", "replaced")]
    assert events[0].ends_at == T0 + HOUR  # when it really ended
    state, events = step(state, None, REPEAT, MUTE_END + 2)
    assert events == () and state is not None and state.status == "resolved"


def test_what_fired_and_ended_unheard_during_a_mute_is_never_told() -> None:
    state, _ = step(None, invalid(), REPEAT, T0, held_until=MUTE_END)
    state, events = step(state, None, REPEAT, T0 + HOUR, held_until=MUTE_END, reason="removed")
    assert events == () and state is not None and state.status == "resolved"
    state, events = step(state, None, REPEAT, MUTE_END + 1)
    assert events == ()


def test_an_end_and_a_new_fire_during_the_mute_is_no_news_after_it() -> None:
    state, _ = step(None, invalid(), REPEAT, T0)
    state, _ = step(state, None, REPEAT, T0 + HOUR, held_until=MUTE_END, reason="valid again")
    state, events = step(state, invalid(), REPEAT, T0 + 2 * HOUR, held_until=MUTE_END)
    assert events == () and state is not None and state.status == "firing"
    state, events = step(state, invalid(), REPEAT, T0 + 3 * HOUR)  # mute ended early: heard an hour... ago
    assert events == ()  # to them it never stopped, and the last word was 3 hours ago
    state, events = step(state, invalid(), REPEAT, T0 + DAY + 1)
    assert kinds(events) == [("repeat", "critical")]


def test_an_owed_end_and_a_new_fire_in_the_same_step_are_both_told() -> None:
    state, _ = step(None, invalid(), REPEAT, T0)
    state, _ = step(state, None, REPEAT, T0 + HOUR, held_until=MUTE_END, reason="valid again")
    state, events = step(state, invalid(), REPEAT, MUTE_END + 1)
    assert [(e.kind, e.status) for e in events] == [("resolve", "resolved"), ("fire", "firing")]
    assert events[0].reason == "valid again" and state is not None and state.started_at == MUTE_END + 1


def test_an_extended_mute_moves_the_hold() -> None:
    state, _ = step(None, invalid(), REPEAT, T0, held_until=MUTE_END)
    later = MUTE_END + DAY
    state, events = step(state, invalid(), REPEAT, MUTE_END - 1, held_until=later)
    assert events == () and state is not None and state.held_until == later


def test_a_resolution_carries_its_reason_and_a_firing_step_clears_a_stale_one() -> None:
    state, _ = step(None, invalid(), REPEAT, T0)
    assert state is not None
    hinted = AlertState(**{**state.__dict__, "resolved_reason": "removed"})
    again, events = step(hinted, invalid(), REPEAT, T0 + 60)
    assert events == () and again is not None and again.resolved_reason is None
    _, events = step(hinted, None, REPEAT, T0 + 60, reason="removed")
    assert [(e.kind, e.reason) for e in events] == [("resolve", "removed")]


# --- reasons ---------------------------------------------------------------------------------------


def facts(**kw: object) -> TokenFacts:
    base: dict = dict(
        id=1, name="acme", app="growth", labels={}, is_valid=True, last_result="valid",
        expires_at=T0 + 50 * DAY, data_access_expires_at=T0 + 80 * DAY, scopes="a", expected_scopes="a",
        invalid_reason=None, failing_since=None, last_error=None, refresh_error=None,
        secret_changed_at=T0 - DAY, last_refresh_at=None,
    )  # fmt: skip
    base.update(kw)
    return TokenFacts(**base)


def alert(name: str = "TokenInvalid", **kw: object) -> AlertState:
    base: dict = dict(
        key=f"{name}/acme", alertname=name, subject="acme", status="firing", severity="critical",
        labels={"app": "growth"}, annotations={}, fingerprint="f", at=T0 + 5 * DAY, started_at=T0,
        last_notified_at=T0, notified_severity="critical", token_id=1,
    )  # fmt: skip
    base.update(kw)
    return AlertState(**base)


def test_reasons() -> None:
    assert resolution_reason(alert(), facts()) == "valid again"
    assert resolution_reason(alert(), facts(secret_changed_at=T0 + HOUR)) == "replaced"
    refreshed = facts(secret_changed_at=T0 + HOUR, last_refresh_at=T0 + HOUR)
    assert resolution_reason(alert("TokenExpiring"), refreshed) == "refreshed"
    assert resolution_reason(alert(), None) == "removed"
    for hint in ("removed", "retired by source", "app removed", "deleted on request"):
        assert resolution_reason(alert(resolved_reason=hint, token_id=None), None) == hint
        assert resolution_reason(alert(resolved_reason=hint), facts()) == hint
    same = facts(expires_at=T0 + 5 * DAY)
    assert resolution_reason(alert("TokenExpiring"), same) == "threshold changed"
    assert resolution_reason(alert("TokenExpiring"), facts(expires_at=T0 + 40 * DAY)) == "renewed"
    assert resolution_reason(alert("TokenCheckFailing"), facts()) == "checks work again"
    assert resolution_reason(alert("TokenCheckFailing"), facts(failing_since=T0)) == "threshold changed"
    inspector = alert("InspectorInvalid", token_id=None)
    assert resolution_reason(inspector, None) == "inspector works again"
    assert resolution_reason(inspector, None, inspector_changed_at=T0 + 1) == "replaced"
