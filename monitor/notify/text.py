"""Words for people: what happened, to which token, when (UTC, ISO 8601) and how long is left."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from monitor.notify.base import AlertEvent
from monitor.timefmt import iso_utc, relative

INVALID_REASONS: Mapping[str, str] = {
    "expired": "the token expired",
    "password_changed": "the user changed their password",
    "revoked": "the user removed the app or revoked its permissions",
    "deauthorized": "the user removed the app or revoked its permissions",
    "session_invalid": "the user's session was invalidated (logged out or security check)",
    "malformed": "the stored token string cannot be parsed (truncated or mistyped?)",
    "unparseable": "the stored token string cannot be parsed (truncated or mistyped?)",
}
INSPECTOR_REASONS: Mapping[str, str] = {
    "dev_mode": "the app is in development mode or the inspector belongs to another app; make sure you "
    "registered the Threads app id and secret, not the Facebook app id",
    "app_mismatch": "the inspector credential belongs to a different app; use the Threads app id and "
    "secret, not the Facebook app's",
    "bad_credential": "Meta rejected the inspector credential (expired, revoked or mistyped)",
}


def common_pairs(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The key/value pairs every mapping shares (Alertmanager's CommonLabels / CommonAnnotations)."""
    common: dict[str, str] | None = None
    for mapping in maps:
        common = dict(mapping) if common is None else {k: v for k, v in common.items() if mapping.get(k) == v}
    return common or {}


def common_labels(alerts: Iterable[AlertEvent]) -> dict[str, str]:
    return common_pairs(alert.labels for alert in alerts)


def _who(event: AlertEvent, *, start: bool = True) -> str:
    """ "Token acme-main (app growth)", or "token ..." inside a sentence."""
    token, app = event.labels.get("token"), event.labels.get("app")
    if token and app:
        who = f"Token {token} (app {app})"
    elif token:
        who = f"Token {token}"
    else:
        who = f"App {app}" if app else "The monitor"
    return who if start else who[0].lower() + who[1:]


def _when(at: float | None, now: float, verb: str, past: str) -> str:
    """ "expires in 1 day 4 hours (2026-12-02T14:00:00Z)" or "expired 2 hours ago (...)"."""
    if at is None:
        return f"{verb} soon"
    return f"{verb if at > now else past} {relative(at, now)} ({iso_utc(at)})"


def _since(event: AlertEvent, now: float) -> str:
    """Since when the trouble lasts: TokenCheckFailing carries the first failure in `at`; the alert itself
    starts only `check_failing_after` later."""
    start = event.at if event.alertname == "TokenCheckFailing" and event.at else event.starts_at
    return f"since {iso_utc(start)} ({relative(start, now)})"


def _error(event: AlertEvent) -> str:
    error = event.labels.get("error") or event.annotations.get("error")
    return f" Last error: {error}." if error else ""


def phrase(event: AlertEvent, now: float) -> str:
    """A short predicate without the token's name: "expires in 1 day 4 hours (2026-12-02T14:00:00Z)"."""
    if event.kind == "test":
        return "test notification, no action needed"
    if event.status == "resolved":
        return resolved_phrase(event)
    name, labels = event.alertname, event.labels
    if name == "TokenExpiring":
        return _when(event.at, now, "expires", "expired") + _reauthorize(event)
    if name == "TokenDataAccessExpiring":
        return "data access " + _when(event.at, now, "expires", "expired")
    if name == "TokenInvalid":
        return "is invalid: " + INVALID_REASONS.get(
            labels.get("reason", ""), labels.get("reason", "no reason")
        )
    if name == "TokenScopesLost" and labels.get("targets"):
        return f"lost targets of permissions: {labels['targets']}"
    if name == "TokenScopesLost":
        return f"lost permissions: {labels.get('scopes', 'unknown scopes')}"
    if name == "TokenCheckFailing":
        return "cannot be checked " + _since(event, now)
    if name == "InspectorInvalid":
        return "inspector credential rejected, tokens of this app cannot be checked"
    if name == "TokenRefreshFailed":
        expiry = f", {_when(event.at, now, 'expires', 'expired')}" if event.at else ""
        return "could not be refreshed automatically" + expiry
    if name == "SourceFailing":
        return f"source {labels.get('source', '?')} cannot be read " + _since(event, now)
    return f"{name} is {event.status}"


# Why an alert ended (AlertEvent.reason, monitor.alerting.reasons), said with the reason's own words so a
# reader can search for it. None of these says "valid again" unless the token is.
_REASON_PHRASES: Mapping[str, str] = {
    "valid again": "is valid again",
    "replaced": "replaced: the new token string is fine",
    "refreshed": "refreshed by the monitor",
    "removed": "removed from the monitor (nothing was fixed: it is no longer watched)",
    "retired by source": "retired by source: it left its source (nothing was fixed: it is no longer watched)",
    "app removed": "ended: app removed from the monitor with its tokens (nothing was fixed)",
    "deleted on request": "ended: deleted at its user's data deletion request (nothing was fixed)",
    "threshold changed": "ended: threshold changed in the configuration (the token did not change)",
    "renewed": "renewed: the deadline moved later",
    "permissions back": "has its permissions back",
    "checks work again": "checks work again",
    "refresh works again": "refresh works again",
    "inspector works again": "inspector works again",
    "source readable again": "source readable again",
}
# A resolution without a reason (queued by an older version): what ended, not why.
_ENDED_PHRASES: Mapping[str, str] = {
    "TokenExpiring": "is no longer close to expiry",
    "TokenDataAccessExpiring": "data access is no longer close to expiry",
    "TokenInvalid": "is no longer reported invalid",
    "TokenScopesLost": "no longer reports lost permissions",
    "TokenCheckFailing": "no longer reports failing checks",
    "InspectorInvalid": "inspector credential no longer reported rejected",
    "TokenRefreshFailed": "no longer reports a failed refresh",
    "SourceFailing": "source no longer reported failing",
}


def resolved_phrase(event: AlertEvent) -> str:
    """Why a resolved alert ended, in words; "replaced" names the inspector for InspectorInvalid."""
    if event.reason == "replaced" and event.alertname == "InspectorInvalid":
        return "replaced: the new inspector credential works"
    if event.reason is not None and event.reason in _REASON_PHRASES:
        return _REASON_PHRASES[event.reason]
    return _ENDED_PHRASES.get(event.alertname, "resolved")


def summary(event: AlertEvent, now: float) -> str:
    """One line: the `summary` annotation, else e.g. "Token acme-main (app growth) expires in 1 day ..."."""
    given = event.annotations.get("summary")
    if given:
        return given
    if event.alertname == "SourceFailing":
        text = phrase(event, now)
        return text[:1].upper() + text[1:]
    who = _who(event, start=event.status != "resolved")
    if not event.labels.get("token"):
        who += ":"  # "App growth: inspector credential rejected ..."
    return ("Resolved: " if event.status == "resolved" else "") + f"{who} {phrase(event, now)}"


def _reauthorize(event: AlertEvent) -> str:
    """For a token no server can renew (a Facebook user token): who must act, and by when."""
    if event.annotations.get("renewal") != "reauthorize":
        return ""
    by = f" before {iso_utc(event.at)}" if event.at is not None else ""
    return f"; the user must re-authorize{by}"


def _expiry_sentence(event: AlertEvent, now: float, what: str) -> str:
    if event.at is None:
        return f"{what} expires soon."
    verb = "expires" if event.at > now else "expired"
    return f"{what} {verb} at {iso_utc(event.at)}, {relative(event.at, now)}."


def _describe_firing(event: AlertEvent, now: float) -> str:
    who, labels = _who(event), event.labels
    builders: dict[str, Callable[[], str]] = {
        "TokenExpiring": lambda: (
            _expiry_sentence(event, now, who)
            + (
                " No server can extend it" + _reauthorize(event) + ", then store the new token."
                if _reauthorize(event)
                else " Refresh it or re-authorise the account."
            )
        ),
        "TokenDataAccessExpiring": lambda: (
            _expiry_sentence(event, now, f"Data access of {_who(event, start=False)}")
            + " After that it can no longer read the account's data; a refresh does not extend this, "
            "the user must re-authorise the app."
        ),
        "TokenInvalid": lambda: (
            f"{who} is no longer valid: "
            + INVALID_REASONS.get(labels.get("reason", ""), f"reason {labels.get('reason', 'not given')}")
            + ". Ask the account owner to re-authorise the app, then store the new token."
        ),
        "TokenScopesLost": lambda: (
            (
                f"{who} lost targets of its permissions ({labels['targets']}). "
                if labels.get("targets")
                else f"{who} lost the permissions {labels.get('scopes', '(unknown)')}. "
            )
            + "Calls that need them will fail; re-authorise the account with these permissions."
        ),
        "TokenCheckFailing": lambda: (
            f"Checks of {_who(event, start=False)} have failed {_since(event, now)}. "
            "Its last known state is kept; see the monitor's logs and the Threads API status." + _error(event)
        ),
        "InspectorInvalid": lambda: (
            f"Meta rejected the inspector credential of app {labels.get('app', '?')}: "
            + INSPECTOR_REASONS.get(labels.get("reason", ""), f"reason {labels.get('reason', 'not given')}")
            + ". Its tokens show as unchecked until the credential is fixed (apps add)."
        ),
        "TokenRefreshFailed": lambda: (
            f"Automatic refresh of {_who(event, start=False)} failed."
            + _error(event)
            + (" " + _expiry_sentence(event, now, "It") if event.at else "")
            + " Refresh it manually or re-authorise the account."
        ),
        "SourceFailing": lambda: (
            f"Token source {labels.get('source', '?')} could not be read "
            f"{_since(event, now)}. Its tokens stay as they were until it works again." + _error(event)
        ),
    }
    build = builders.get(event.alertname)
    return build() if build else f"{who}: {event.alertname} is firing."


def description(event: AlertEvent, now: float) -> str:
    """A sentence or two: the `description` annotation, else what happened, when, and what to do."""
    given = event.annotations.get("description")
    if given:
        return given
    if event.kind == "test":
        return "This is a test notification from threads-token-monitor. If you can read it, delivery works."
    if event.status == "resolved":
        ended = f" at {iso_utc(event.ends_at)}" if event.ends_at is not None else ""
        started = f"{iso_utc(event.starts_at)} ({relative(event.starts_at, now)})"
        why = f" Reason: {event.reason}." if event.reason else ""
        return (
            f"Resolved{ended}: {_who(event, start=False)} {phrase(event, now)}. It had started at {started}."
            + why
        )
    return _describe_firing(event, now)
