"""Why an alert ended, pure: what the alert was and what is true of its token now in, one reason out.

The reason travels with the resolution (stored on the alert, `resolved_reason` in webhook and Alertmanager
payloads, said in every text), so removing a dead token never reads as "valid again".
"""

from __future__ import annotations

from monitor.alerting.ladder import LATER_TOLERANCE, AlertState
from monitor.alerting.rules import TokenFacts

__all__ = ["REASONS", "REMOVALS", "resolution_reason"]

# Written on a token's firing alerts when the token is deleted (monitor.registry.delete_tokens; "deleted on
# request": Meta's data deletion request for its user, monitor.registry.erase_user).
REMOVALS = ("removed", "retired by source", "app removed", "deleted on request")
REASONS = (
    "valid again",  # TokenInvalid: the same string answers valid
    "replaced",  # a new string (or inspector credential) was stored, and it is fine
    "refreshed",  # the monitor refreshed the string
    *REMOVALS,
    "threshold changed",  # the configuration changed; the token did not
    "renewed",  # a horizon moved later with the same string
    "permissions back",  # TokenScopesLost
    "checks work again",  # TokenCheckFailing
    "refresh works again",  # TokenRefreshFailed
    "inspector works again",  # InspectorInvalid
    "source readable again",  # SourceFailing
)


def resolution_reason(
    alert: AlertState, facts: TokenFacts | None, *, inspector_changed_at: float | None = None
) -> str:
    """Why `alert` (firing, about to end) ends, given its token's facts now (None: the token is gone) and,
    for InspectorInvalid, when its app's inspector credential was last replaced."""
    if alert.resolved_reason in REMOVALS:
        return alert.resolved_reason
    name = alert.alertname
    if name == "SourceFailing":
        return "source readable again"
    if name == "InspectorInvalid":
        replaced = inspector_changed_at is not None and inspector_changed_at > alert.started_at
        return "replaced" if replaced else "inspector works again"
    if facts is None:
        return "removed"
    changed = facts.secret_changed_at
    if changed is not None and changed > alert.started_at:
        return "refreshed" if facts.last_refresh_at == changed else "replaced"
    return _natural(alert, facts)


def _natural(alert: AlertState, facts: TokenFacts) -> str:
    """The end of an alert whose token kept its string."""
    name = alert.alertname
    if name == "TokenInvalid":
        return "valid again"
    if name in ("TokenExpiring", "TokenDataAccessExpiring"):
        at = facts.expires_at if name == "TokenExpiring" else facts.data_access_expires_at
        later = at is None or alert.at is None or at > alert.at + LATER_TOLERANCE
        return "renewed" if later else "threshold changed"
    if name == "TokenScopesLost":
        return "permissions back"
    if name == "TokenCheckFailing":
        return "threshold changed" if facts.failing_since is not None else "checks work again"
    if name == "TokenRefreshFailed":
        return "refresh works again"
    return "resolved"
