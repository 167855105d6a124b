"""A new token's record, with every field defaulted by its kind (`type`) and its platform.

USER: issued 1 d ago, expires 60 d and data access 90 d after issue (a long-lived user token).
PAGE: never expires (`expires_at` 0), data access 90 d after issue, `profile_id` "2000" (the Page).
SYSTEM_USER: never expires, no data-access horizon (0); give `expires_at` for the 60-day kind.
APP: never expires; its answers hold only `app_id`, `type`, `application`, `is_valid` and `scopes` (an app
token's answer has no horizons, observed; no user and no issue time either).
`scopes` default to the platform's for the kind; platforms that list `granular_scopes` get one entry per scope
without targets (it applies to all) unless given some (none for a token without scopes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.simulator.base import Platform
from monitor.simulator.registry import ANSWER_FIELDS
from monitor.simulator.wire import DATA_ACCESS, DAY, INVALID, LIFETIME

TOKEN_STATES = ("valid", "garbage", *INVALID)
NEVER_EXPIRING = ("PAGE", "SYSTEM_USER", "APP")
NO_DATA_ACCESS = ("SYSTEM_USER", "APP")
APP_OMITS = ("issued_at", "expires_at", "data_access_expires_at", "user_id")


def token_record(  # noqa: PLR0913 - one keyword per field of Meta's answer
    platform: Platform,
    now: float,
    *,
    app_id: str,
    user_id: str = "1000",
    state: str = "valid",
    expires_at: float | None = None,
    data_access_expires_at: float | None = None,
    issued_at: float | None = None,
    scopes: Sequence[str] | None = None,
    type: str = "USER",  # noqa: A002 - the API's field name
    profile_id: str | None = None,
    granular_scopes: Sequence[Mapping[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    omit: Sequence[str] | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    """The record of a new token; ValueError for an unknown state, omitted field or granular scope shape."""
    if state not in TOKEN_STATES:
        raise ValueError(f"unknown token state {state!r}")
    issued = now - DAY if issued_at is None else issued_at
    if expires_at is None:
        expires_at = 0 if type in NEVER_EXPIRING else issued + LIFETIME
    if data_access_expires_at is None:
        data_access_expires_at = 0 if type in NO_DATA_ACCESS else issued + DATA_ACCESS
    scope_list = list(platform.default_scopes(type) if scopes is None else scopes)
    if granular_scopes is None and platform.granular and scope_list:
        granular_scopes = [{"scope": s} for s in scope_list]
    if omit is None:
        omit = APP_OMITS if type == "APP" else ()
    if not set(omit) <= ANSWER_FIELDS:
        raise ValueError(f"omit names no answer field: {sorted(set(omit) - ANSWER_FIELDS)}")
    return {
        "app_id": app_id,
        "user_id": user_id,
        "state": state,
        "issued_at": issued,
        "expires_at": expires_at,
        "data_access_expires_at": data_access_expires_at,
        "scopes": scope_list,
        "type": type,
        "profile_id": "2000" if profile_id is None and type == "PAGE" else profile_id,
        "granular_scopes": granular(granular_scopes),
        "metadata": dict(metadata) if metadata is not None else None,
        "omit": tuple(omit),
        "username": username,
    }


def granular(entries: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Granular scopes checked: each `{"scope": str, "target_ids"?: [str, ...]}`."""
    if entries is None:
        return None
    checked = []
    for entry in entries:
        if not isinstance(entry.get("scope"), str) or not set(entry) <= {"scope", "target_ids"}:
            raise ValueError(f"a granular scope is {{'scope': str, 'target_ids': [...]}}, not {entry!r}")
        item: dict[str, Any] = {"scope": entry["scope"]}
        if entry.get("target_ids") is not None:
            item["target_ids"] = [str(t) for t in entry["target_ids"]]
        checked.append(item)
    return checked


def set_targets(record: dict[str, Any], scope: str, target_ids: Sequence[str] | None) -> None:
    """Set the `target_ids` of one granular scope of `record` in place (None: it applies to all targets),
    adding the scope when the record has none such."""
    entries = [dict(e) for e in record.get("granular_scopes") or []]
    entry = next((e for e in entries if e["scope"] == scope), None)
    if entry is None:
        entry = {"scope": scope}
        entries.append(entry)
    entry.pop("target_ids", None)
    if target_ids is not None:
        entry["target_ids"] = [str(t) for t in target_ids]
    record["granular_scopes"] = entries
