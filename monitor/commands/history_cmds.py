"""tokens history: a token's checks and changes, newest first, as a table or --json."""

from __future__ import annotations

import argparse
import json
from typing import Any

from monitor.context import Context
from monitor.registry import Change, get_token, history, recent
from monitor.state import expiry_word
from monitor.tables import print_json, render_table
from monitor.timefmt import iso_utc


def cmd_tokens_history(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        token_id = get_token(s, args.name).id
        dated = [(sn.observed_at, 0, check_row(sn)) for sn in history(s, args.name, args.limit)]
        dated += [(c.at, 1, change_row(c)) for c in recent(s, token_id, args.limit)]
    # Newest first; a check and a change in the same instant: the change came first (it caused the check).
    rows = [row for _, _, row in sorted(dated, key=lambda d: (-d[0], d[1]))][: args.limit]
    if args.json:
        print_json(rows)
    elif not rows:
        print(f"{args.name}: never checked")
    else:
        headers = ["observed", "result", "reason", "fingerprint", "expires", "data access expires", "scopes"]
        headers.append("details")
        print(render_table(headers, [_history_cells(r) for r in rows]))
    return 0


def check_row(sn: Any) -> dict[str, Any]:
    """A snapshot: what one check saw."""
    return {
        "kind": "check",
        "observed_at": iso_utc(sn.observed_at),
        "result": sn.result,
        "reason": sn.reason,
        "fingerprint": sn.fingerprint,
        "is_valid": sn.is_valid,
        "expires_at": iso_utc(sn.expires_at) if sn.expires_at else None,
        "data_access_expires_at": iso_utc(sn.data_access_expires_at) if sn.data_access_expires_at else None,
        "issued_at": iso_utc(sn.issued_at) if sn.issued_at else None,
        "scopes": (sn.scopes or "").split(),
        "type": sn.token_type,
        "application": sn.application,
        "user_id": sn.user_id,
        "error_code": sn.error_code,
        "error_subcode": sn.error_subcode,
        "profile_id": sn.profile_id,
        "granular_scopes": _json(sn.granular_scopes),
        "metadata": _json(sn.token_metadata),
        "expiry": expiry_word(sn.expires_at, sn.expiry_source, sn.validity_source),
        "expiry_source": sn.expiry_source,
        "validity_source": sn.validity_source,
    }


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _details(r: dict[str, Any]) -> str:
    """The kind of token and where the facts came from, for the history table's last column."""
    parts = [r["type"] or ""]
    if r.get("profile_id"):
        parts.append(f"page {r['profile_id']}")
    limited = [g for g in r.get("granular_scopes") or [] if isinstance(g, dict) and g.get("target_ids")]
    parts += [f"{g['scope']} on {', '.join(map(str, g['target_ids']))}" for g in limited]
    if r.get("validity_source") == "me":
        parts.append("checked via /me")
    if r.get("expiry_source") in ("refresh", "exchange"):
        parts.append(f"expiry from {r['expiry_source']}")
    return "; ".join(p for p in parts if p) or "-"


def change_row(c: Change) -> dict[str, Any]:
    """A change: what was done to the token (string replaced or refreshed, labels, mutes)."""
    return {
        "kind": "change",
        "observed_at": iso_utc(c.at),
        "result": c.kind,
        "reason": f"via {c.via}",
        "fingerprint": c.fingerprint,
        "previous_fingerprint": c.previous_fingerprint,
        "detail": c.detail,
    }


def _history_cells(r: dict[str, Any]) -> list[str]:
    if r["kind"] == "change":
        fingerprint = f"{r['previous_fingerprint']} -> {r['fingerprint']}" if r["fingerprint"] else "-"
        return [r["observed_at"], r["result"], r["reason"], fingerprint, "", "", r["detail"] or "", ""]
    return [
        r["observed_at"],
        r["result"],
        r["reason"] or "-",
        r["fingerprint"],
        r["expires_at"] or r["expiry"] or "never",
        r["data_access_expires_at"] or "never",
        " ".join(r["scopes"]) or "-",
        _details(r),
    ]
