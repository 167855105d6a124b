"""Granular scopes as stored (JSON `[{scope, target_ids?}]`): the baseline of targets a token was granted,
and the targets it lost since (TokenScopesLost also fires when a scope's `target_ids` shrink, SPEC 16).
Pure; the stored forms are written by monitor.check.observe."""

from __future__ import annotations

import json
from typing import Any


def _entries(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def targets_of(granular: str | None) -> dict[str, list[str]]:
    """{scope: sorted target ids} for the scopes limited to targets (a scope without targets covers all)."""
    out: dict[str, list[str]] = {}
    for entry in _entries(granular):
        ids = entry.get("target_ids")
        if isinstance(entry.get("scope"), str) and isinstance(ids, list):
            out[entry["scope"]] = sorted(str(i) for i in ids)
    return out


def targets_baseline(granular: str | None) -> str | None:
    """The stored baseline (JSON {scope: [ids]}) a first answer sets; None when no scope has targets."""
    targets = targets_of(granular)
    return json.dumps(targets, sort_keys=True, separators=(",", ":")) if targets else None


def lost_targets(baseline: str | None, granular: str | None) -> dict[str, list[str]]:
    """{scope: target ids of the baseline the latest answer no longer grants}. A scope that now covers every
    target lost nothing; one gone altogether is a lost scope (monitor.state.lost_scopes), not listed here."""
    if not baseline or granular is None:
        return {}
    try:
        before = json.loads(baseline)
    except ValueError:
        return {}
    now = {e["scope"]: e.get("target_ids") for e in _entries(granular) if isinstance(e.get("scope"), str)}
    lost: dict[str, list[str]] = {}
    for scope, ids in before.items() if isinstance(before, dict) else []:
        current = now.get(scope, [])
        if scope not in now or current is None or not isinstance(ids, list):
            continue
        gone = sorted(set(map(str, ids)) - set(map(str, current)))
        if gone:
            lost[scope] = gone
    return lost


def describe_lost(lost: dict[str, list[str]]) -> str:
    """ "pages_manage_posts: 123, 456; ads_read: 9" for an alert label."""
    return "; ".join(f"{scope}: {', '.join(ids)}" for scope, ids in sorted(lost.items()))
