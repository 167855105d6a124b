"""The alert rules. Pure: inputs and `now` in, the alerts that should be firing out.

`token_alerts`, `app_alerts` and `source_alerts` say which alerts *should* be firing for one subject now
(`Desired`); the ladder (monitor.alerting.ladder: `step`, `AlertState`) moves each stored alert towards that
and says what to notify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.alerting.ladder import (
    LATER_TOLERANCE,
    RESET_ON_LATER_AT,
    AlertState,
    Desired,
    Step,
    event,
    labels_fingerprint,
    resolves,
    step,
)
from monitor.graph.granular import describe_lost, lost_targets
from monitor.graph.platforms import Renewal, platform_named
from monitor.state import State, Verdict, horizon_level, lost_scopes

# The ladder's names, imported from here by older code and tests.
__all__ = ["LATER_TOLERANCE", "RESET_ON_LATER_AT", "AlertState", "Desired", "Step", "TokenFacts", "alert_key"]
__all__ += ["app_alerts", "event", "labels_fingerprint", "lost_scopes", "resolves", "source_alerts", "step"]
__all__ += ["token_alerts"]


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
    # When the string last changed and when the monitor last refreshed it: an alert raised before a
    # change ends as "replaced" or "refreshed" (monitor.alerting.reasons).
    secret_changed_at: float | None = None
    last_refresh_at: float | None = None
    # SPEC 16: the app's platform (a label of every token alert), debug_token's type (a Facebook user token
    # cannot be renewed by a server: its TokenExpiring says the user must re-authorize), and the granular
    # targets with their baseline (TokenScopesLost names the targets lost).
    platform: str = "threads"
    token_type: str | None = None
    granular_scopes: str | None = None
    expected_targets: str | None = None


def alert_key(alertname: str, subject: str) -> str:
    return f"{alertname}/{subject}"


def _level(at: float | None, warning: float, critical: float, now: float) -> str | None:
    """The alert severity for one horizon: the same rule as the token's state (monitor.state)."""
    level = horizon_level(at, warning, critical, now)
    return None if level is State.OK else level.value


def token_alerts(t: TokenFacts, cfg: Any, now: float) -> list[Desired]:
    """The alerts that should fire for token `t` at `now` under `cfg` (an AlertsConfig)."""
    base = {str(k): str(v) for k, v in (t.labels or {}).items()}
    base.update(token=t.name, app=t.app)
    if t.platform != "threads":
        # Threads alerts keep the labels they always had (no `platform`: threads), so an upgrade does not
        # change the identity of every firing alert in Alertmanager and existing routes keep matching.
        base["platform"] = t.platform
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
            add("TokenExpiring", level, at=t.expires_at, annotations=_renewal(t))
        level = _level(t.data_access_expires_at, cfg.data_access.warning, cfg.data_access.critical, now)
        if level:
            add("TokenDataAccessExpiring", level, at=t.data_access_expires_at)
        lost = lost_scopes(t.expected_scopes, t.scopes)
        targets = lost_targets(t.expected_targets, t.granular_scopes)
        if lost or targets:
            extra = {"scopes": ", ".join(lost or sorted(targets))}
            add(
                "TokenScopesLost", "warning", extra | ({"targets": describe_lost(targets)} if targets else {})
            )
    elif t.is_valid is False:
        add("TokenInvalid", "critical", {"reason": t.invalid_reason or "unknown"})
    # An inspector problem is reported once per app (InspectorInvalid), not once per token.
    failing = t.failing_since is not None and now - t.failing_since >= cfg.check_failing_after
    if failing and t.last_result != Verdict.INSPECTOR:
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


def _renewal(t: TokenFacts) -> dict[str, str]:
    """`renewal: reauthorize` for a kind no server renews though it expires (a Facebook user token)."""
    try:
        renewal = platform_named(t.platform).renewal(t.token_type)
    except KeyError:
        return {}
    return {"renewal": renewal.value} if renewal is Renewal.REAUTHORIZE else {}


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
