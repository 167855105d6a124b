"""The alert rules and ladder, pure: no database, no clock, no network."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from monitor.alerting.rules import (
    AlertState,
    Desired,
    TokenFacts,
    app_alerts,
    labels_fingerprint,
    lost_scopes,
    source_alerts,
    step,
    token_alerts,
)
from monitor.config.load import AlertsConfig

DAY, HOUR = 86400.0, 3600.0
CFG = AlertsConfig()  # expiry 7d/2d, data access 14d/3d, check failing 1h, repeat 24h
T0 = 1_800_000_000.0
SCOPES = "threads_basic threads_content_publish"


def facts(**kw: Any) -> TokenFacts:
    base: dict[str, Any] = dict(
        id=1, name="acme-main", app="growth", labels={"team": "growth"}, is_valid=True, last_result="valid",
        expires_at=T0 + 50 * DAY, data_access_expires_at=T0 + 80 * DAY, scopes=SCOPES, expected_scopes=SCOPES,
        invalid_reason=None, failing_since=None,
        last_error=None, refresh_error=None,
    )  # fmt: skip
    base.update(kw)
    return TokenFacts(**base)


def names(desired: list[Desired]) -> dict[str, str]:
    return {d.alertname: d.severity for d in desired}


def expiring(at: float, severity: str) -> Desired:
    labels = {"alertname": "TokenExpiring", "token": "t", "app": "a", "severity": severity}
    return Desired("TokenExpiring/t", "TokenExpiring", "t", severity, labels, {}, at, 1)


# --- rules -----------------------------------------------------------------------------------------------


def test_healthy_token_has_no_alerts() -> None:
    assert token_alerts(facts(), CFG, T0) == []


@pytest.mark.parametrize(
    ("left", "severity"), [(8 * DAY, None), (7 * DAY, "warning"), (3 * DAY, "warning"), (2 * DAY, "critical")]
)
def test_token_expiring_thresholds(left: float, severity: str | None) -> None:
    got = names(token_alerts(facts(expires_at=T0 + left), CFG, T0))
    assert got.get("TokenExpiring") == severity


def test_data_access_expiring_uses_its_own_thresholds() -> None:
    got = token_alerts(facts(data_access_expires_at=T0 + 10 * DAY), CFG, T0)
    assert names(got) == {"TokenDataAccessExpiring": "warning"}
    assert got[0].at == T0 + 10 * DAY
    assert names(token_alerts(facts(data_access_expires_at=T0 + 2 * DAY), CFG, T0)) == {
        "TokenDataAccessExpiring": "critical"
    }


def test_expiry_alerts_only_while_valid_and_invalid_is_critical_with_reason() -> None:
    got = token_alerts(facts(is_valid=False, invalid_reason="revoked", expires_at=T0 + DAY), CFG, T0)
    assert names(got) == {"TokenInvalid": "critical"}
    assert got[0].labels["reason"] == "revoked"
    assert got[0].labels["team"] == "growth" and got[0].labels["token"] == "acme-main"
    assert got[0].labels["app"] == "growth" and got[0].labels["alertname"] == "TokenInvalid"


def test_never_checked_token_has_no_verdict_alerts() -> None:
    assert (
        token_alerts(facts(is_valid=None, expires_at=None, scopes=None, expected_scopes=None), CFG, T0) == []
    )


def test_scopes_lost_names_the_lost_scopes() -> None:
    got = token_alerts(facts(scopes="threads_basic"), CFG, T0)
    assert names(got) == {"TokenScopesLost": "warning"}
    assert got[0].labels["scopes"] == "threads_content_publish"
    assert lost_scopes(None, "a") == [] and lost_scopes("a b", "b c") == ["a"]


def test_losing_every_scope_is_the_loudest_scope_loss() -> None:
    """An answer with `scopes: []` is stored as "" (not NULL, which means unknown) and loses them all."""
    got = token_alerts(facts(scopes=""), CFG, T0)
    assert names(got) == {"TokenScopesLost": "warning"}
    assert got[0].labels["scopes"] == "threads_basic, threads_content_publish"
    assert token_alerts(facts(scopes=None), CFG, T0) == []  # nothing known yet: no verdict


def test_check_failing_after_threshold_but_not_for_inspector_problems() -> None:
    assert token_alerts(facts(failing_since=T0 - 30 * 60), CFG, T0) == []
    got = token_alerts(
        facts(failing_since=T0 - 2 * HOUR, last_result="error", last_error="HTTP 503"), CFG, T0
    )
    assert names(got) == {"TokenCheckFailing": "warning"}
    assert got[0].annotations == {"error": "HTTP 503"}
    assert got[0].at == T0 - 2 * HOUR  # the message says since when checks fail, not since the alert fired
    assert token_alerts(facts(failing_since=T0 - 2 * HOUR, last_result="inspector"), CFG, T0) == []


def test_refresh_failed_is_critical_near_expiry() -> None:
    far = token_alerts(facts(refresh_error="code 190"), CFG, T0)
    assert names(far) == {"TokenRefreshFailed": "warning"}
    near = names(token_alerts(facts(refresh_error="code 190", expires_at=T0 + DAY), CFG, T0))
    assert near == {"TokenRefreshFailed": "critical", "TokenExpiring": "critical"}


def test_app_and_source_alerts() -> None:
    (inspector,) = app_alerts("growth", "dev_mode")
    assert (inspector.alertname, inspector.severity, inspector.labels["reason"]) == (
        "InspectorInvalid", "critical", "dev_mode",
    )  # fmt: skip
    assert inspector.key != app_alerts("other", None)[0].key
    (source,) = source_alerts("app-db", "OperationalError: connection refused")
    assert source.labels == {"alertname": "SourceFailing", "source": "app-db", "severity": "warning"}
    assert source.annotations["error"].startswith("OperationalError")


def test_fingerprint_ignores_severity() -> None:
    assert labels_fingerprint({"a": "1", "severity": "warning"}) == labels_fingerprint(
        {"a": "1", "severity": "critical"}
    )
    assert len(labels_fingerprint({"a": "1"})) == 16


# --- the ladder ------------------------------------------------------------------------------------------


def test_fire_then_quiet_then_repeat_after_repeat_interval() -> None:
    d = expiring(T0 + 5 * DAY, "warning")
    state, events = step(None, d, CFG.repeat_interval, T0)
    assert [e.kind for e in events] == ["fire"] and state is not None and state.status == "firing"
    assert events[0].status == "firing" and events[0].starts_at == T0 and events[0].at == T0 + 5 * DAY
    state, events = step(state, d, CFG.repeat_interval, T0 + DAY - 1)
    assert events == ()
    state, events = step(state, d, CFG.repeat_interval, T0 + DAY)
    assert [e.kind for e in events] == ["repeat"] and events[0].starts_at == T0
    state, events = step(state, d, CFG.repeat_interval, T0 + DAY + 60)
    assert events == ()


def test_escalate_notifies_and_deescalation_is_silent() -> None:
    state, _ = step(None, expiring(T0 + 3 * DAY, "warning"), CFG.repeat_interval, T0)
    state, events = step(state, expiring(T0 + 3 * DAY, "critical"), CFG.repeat_interval, T0 + DAY)
    assert [(e.kind, e.severity) for e in events] == [("escalate", "critical")]
    assert events[0].labels["severity"] == "critical"
    state, events = step(state, expiring(T0 + 3 * DAY, "warning"), CFG.repeat_interval, T0 + DAY + 60)
    assert events == () and state is not None and state.severity == "warning"
    # Back to critical: already notified at critical, so no second escalation.
    state, events = step(state, expiring(T0 + 3 * DAY, "critical"), CFG.repeat_interval, T0 + DAY + 120)
    assert events == ()


def test_resolve_once_and_resolved_goes_where_the_loudest_went() -> None:
    state, _ = step(None, expiring(T0 + DAY, "critical"), CFG.repeat_interval, T0)
    state, _ = step(state, expiring(T0 + DAY, "warning"), CFG.repeat_interval, T0 + 60)
    state, events = step(state, None, CFG.repeat_interval, T0 + 120)
    assert [(e.kind, e.status, e.severity) for e in events] == [("resolve", "resolved", "critical")]
    assert events[0].ends_at == T0 + 120
    state, events = step(state, None, CFG.repeat_interval, T0 + 180)
    assert events == () and state is not None and state.status == "resolved"
    assert step(None, None, CFG.repeat_interval, T0) == (None, ())


def test_refresh_with_later_expiry_resolves_and_restarts_the_ladder() -> None:
    state, _ = step(None, expiring(T0 + DAY, "critical"), CFG.repeat_interval, T0)
    # Refreshed to a later expiry that is still near: resolve at once, then a fresh ladder from warning.
    state, events = step(state, expiring(T0 + 5 * DAY, "warning"), CFG.repeat_interval, T0 + HOUR)
    assert [(e.kind, e.status) for e in events] == [("resolve", "resolved"), ("fire", "firing")]
    assert state is not None and state.started_at == T0 + HOUR and state.notified_severity == "warning"
    # Refreshed far away: the rule no longer fires, the alert resolves.
    state, events = step(state, None, CFG.repeat_interval, T0 + 2 * HOUR)
    assert [e.kind for e in events] == ["resolve"]


def test_flapping_observations_do_not_refire() -> None:
    early, late = expiring(T0 + 3 * DAY, "warning"), expiring(T0 + 3 * DAY + 600, "warning")
    state, _ = step(None, late, CFG.repeat_interval, T0)
    kinds = []
    for i in range(1, 20):
        state, events = step(state, early if i % 2 else late, CFG.repeat_interval, T0 + i * 60)
        kinds += [e.kind for e in events]
    assert kinds == []


def test_check_failing_flap_does_not_touch_expiry_alert() -> None:
    t = facts(expires_at=T0 + 5 * DAY)
    state: dict[str, AlertState | None] = {}
    emitted: list[tuple[str, str]] = []
    sequence = [t, replace(t, failing_since=T0 - 2 * HOUR, last_result="error"), t, t]
    for i, f in enumerate(sequence):
        now = T0 + i * 60
        desired = {d.key: d for d in token_alerts(f, CFG, now)}
        for key in set(state) | set(desired):
            state[key], events = step(state.get(key), desired.get(key), CFG.repeat_interval, now)
            emitted += [(e.alertname, e.kind) for e in events]
    assert emitted == [
        ("TokenExpiring", "fire"),
        ("TokenCheckFailing", "fire"),
        ("TokenCheckFailing", "resolve"),
    ]


def test_refire_after_resolution_starts_a_new_ladder() -> None:
    state, _ = step(None, expiring(T0 + DAY, "critical"), CFG.repeat_interval, T0)
    state, _ = step(state, None, CFG.repeat_interval, T0 + 60)
    state, events = step(state, expiring(T0 + DAY, "critical"), CFG.repeat_interval, T0 + 120)
    assert [e.kind for e in events] == ["fire"] and state is not None and state.started_at == T0 + 120


def test_restart_round_trip_neither_repeats_nor_loses() -> None:
    """The state survives a restart as stored columns: rebuilding it from them changes nothing."""
    d = expiring(T0 + 5 * DAY, "warning")
    state, _ = step(None, d, CFG.repeat_interval, T0)
    assert state is not None
    stored = AlertState(**{f: getattr(state, f) for f in AlertState.__dataclass_fields__})
    again, events = step(stored, d, CFG.repeat_interval, T0 + HOUR)
    assert events == () and again == stored
    _, events = step(stored, d, CFG.repeat_interval, T0 + DAY + 1)
    assert [e.kind for e in events] == ["repeat"]


def test_check_failing_message_counts_from_the_first_failure() -> None:
    from monitor.notify.base import AlertEvent
    from monitor.notify.text import description
    from monitor.timefmt import iso_utc

    event = AlertEvent(
        alertname="TokenCheckFailing",
        status="firing",
        severity="warning",
        labels={"alertname": "TokenCheckFailing", "token": "t1", "app": "a"},
        annotations={},
        starts_at=T0,
        ends_at=None,
        fingerprint="f",
        at=T0 - 2 * HOUR,
    )
    text = description(event, T0)
    assert f"since {iso_utc(T0 - 2 * HOUR)} (2 hours ago)" in text
