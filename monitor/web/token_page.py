"""The page of one token at GET /tokens/NAME: state, both horizons, labels, source, checks, refreshes,
firing alerts, the timeline of time left (inline SVG) and the snapshot history, newest first.

Everything shown passes through html.escape; the token string itself is never read for the page.
"""

from __future__ import annotations

import json
from html import escape

from monitor.db.models import Snapshot, Token
from monitor.state import Horizons, InspectorState, expiry_word
from monitor.status import describe_state, until
from monitor.timefmt import humanize_duration, iso_utc
from monitor.web.charts import BLUE, PURPLE, timeline
from monitor.web.layout import html_page, meta_line
from monitor.web.token_view import HISTORY_ROWS, TokenView

HISTORY_HEADERS = (
    "Observed",
    "Result",
    "Expires",
    "Data access expires",
    "Issued",
    "Scopes",
    "Error",
    "String",
    "Kind",
)


def _at(at: float | None, now: float, never: str = "never") -> str:
    """'in 3 days (2026-12-09T10:00:00Z)', escaped."""
    if not at:
        return never
    return f"{escape(until(at, now))} <small>({escape(iso_utc(at))})</small>"


def _facts(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="facts">{items}</dl>'


def _identity(view: TokenView, now: float) -> str:
    row, t = view.row, view.token
    labels = ", ".join(f"{k}={v}" for k, v in row.labels) or "none"
    refused = " (inspector credential refused)" if view.inspector_state == InspectorState.INVALID else ""
    who = " / ".join(x or "-" for x in (t.token_type, t.application, t.user_id))
    return _facts([
        ("State", f'<span class="s-{escape(row.state)}">&nbsp;{escape(describe_state(row))}&nbsp;</span>'),
        ("Expires", _at(row.expires_at, now, row.expiry or "never") + _source(row.expiry_source)),
        ("Data access expires", _at(row.data_access_expires_at, now)),
        ("Issued", _at(t.issued_at, now, "unknown")),
        ("App", escape(f"{row.app} ({row.platform}){refused}")),
        ("Labels", escape(labels)),
        ("Source", escape(row.source or "added by hand")),
        ("Type / application / user", escape(who)),
        ("Scopes", escape(" ".join(row.scopes) or "-")),
        *_meta_facts(t),
        ("String", f"fingerprint {escape(t.fingerprint)}, last replaced {_at(t.secret_changed_at, now)}"),
        ("Muted", _muted(view, now)),
    ])  # fmt: skip


SOURCES = {
    "debug_token": "from debug_token",
    "never": "debug_token says it never expires",
    "refresh": "from the monitor's own refresh",
    "exchange": "from the monitor's own exchange",
    "me": "GET /me (debug_token cannot describe this token)",
}


def _source(source: str | None) -> str:
    """Where a fact came from, as a small note (nothing for a row checked before sources were kept)."""
    return f" <small>({escape(SOURCES.get(source, source))})</small>" if source else ""


def _meta_facts(t: Token) -> list[tuple[str, str]]:
    """SPEC 16 facts, where the token has them: its Page, the targets of its granular scopes, debug_token's
    metadata, and what said it is valid."""
    out = []
    if t.profile_id:
        out.append(("Page (profile_id)", escape(t.profile_id)))
    granted = _json(t.granular_scopes)
    if isinstance(granted, list):
        parts = [
            f"{g.get('scope')}: " + (", ".join(map(str, g["target_ids"])) if g.get("target_ids") else "all")
            for g in granted
            if isinstance(g, dict)
        ]
        out.append(("Granular scopes", escape("; ".join(parts) or "-")))
    if t.token_metadata:
        out.append(("Metadata", escape(t.token_metadata)))
    if t.validity_source:
        out.append(("Validity", "checked" + _source(t.validity_source)))
    return out


def _json(text: str | None) -> object:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _muted(view: TokenView, now: float) -> str:
    """Until when a mute holds the token's notifications back, and why; "no" without one."""
    row = view.row
    if row.muted_until is None:
        return "no"
    why = f": {escape(row.mute_comment)}" if row.mute_comment else ""
    own = view.token.muted_until == row.muted_until
    return f"until {_at(row.muted_until, now)}{'' if own else ' (its app is muted)'}{why}"


def _checks(view: TokenView, now: float) -> str:
    t = view.token
    failing = (
        f"since {_at(t.failing_since, now)}, {t.consecutive_failures} in a row" if t.failing_since else "no"
    )
    refresh = "on" if t.auto_refresh else "off"
    if t.auto_refresh:
        refresh += f"; last {_at(t.last_refresh_at, now)}; next {_at(t.next_refresh_at, now, 'not planned')}"
    return _facts([
        ("Last check", f"{_at(t.last_check_at, now)}: {escape(t.last_result or 'none yet')}"),
        ("Last answer", _at(t.last_success_at, now)),
        ("Last asked-for check", _asked(t.callback_check_at, t.callback_check_reason, now)),
        ("Failing", failing),
        ("Last error", escape(t.last_error or "-")),
        ("Next check", _at(t.next_check_at, now, "not planned")),
        ("Automatic refresh", refresh),
        ("Refresh error", escape(t.refresh_error or "-")),
    ])  # fmt: skip


def _asked(at: float | None, reason: str | None, now: float) -> str:
    """When a deauthorize callback or the recheck API last had this token checked at once."""
    if at is None:
        return "never (no callback or recheck named it)"
    why = "a deauthorize callback" if reason == "deauthorize" else "the recheck API"
    return f"{_at(at, now)}, asked by {escape(why)}"


def _alerts(view: TokenView, now: float) -> str:
    if not view.alerts:
        return '<p class="meta">No alert firing.</p>'
    held = " (muted: no notifier has heard of it yet)"
    items = "".join(
        f"<li><strong>{escape(a.alertname)}</strong> ({escape(a.severity)}) "
        f"since {_at(a.started_at, now)}{held if a.notified_severity is None else ''}</li>"
        for a in view.alerts
    )
    return f"<ul>{items}</ul>"


def _changes(view: TokenView, now: float) -> str:
    """What was done to the token: strings replaced or refreshed (old and new fingerprint), labels, mutes."""
    if not view.changes:
        return '<p class="meta">No change since it was added.</p>'
    rows = "".join(
        f'<tr><td title="{escape(iso_utc(c.at))}">{escape(until(c.at, now))}</td>'
        f'<td data-label="Change">{escape(c.describe())}</td></tr>'
        for c in view.changes
    )
    head = "<thead><tr><th>When</th><th>Change</th></tr></thead>"
    return f'<div class="wrap"><table>{head}<tbody>{rows}</tbody></table></div>'


def _iso(at: float | None, missing: str) -> str:
    return escape(iso_utc(at)) if at else missing


def _expiry(s: Snapshot) -> str:
    return expiry_word(s.expires_at, s.expiry_source, s.validity_source) or "never"


def _snapshot(s: Snapshot, now: float) -> str:
    error = " / ".join(str(x) for x in (s.error_code, s.error_subcode) if x is not None)
    result = s.result + (f" ({s.reason})" if s.reason else "")
    cells = (
        f'<td title="{escape(iso_utc(s.observed_at))}">{escape(until(s.observed_at, now))}</td>'
        f'<td data-label="Result">{escape(result)}</td>'
        f'<td data-label="Expires">{_iso(s.expires_at, _expiry(s))}</td>'
        f'<td data-label="Data access">{_iso(s.data_access_expires_at, "never")}</td>'
        f'<td data-label="Issued">{_iso(s.issued_at, "-")}</td>'
        f'<td class="scopes" data-label="Scopes">{escape(s.scopes or "-")}</td>'
        f'<td data-label="Error">{escape(error or "-")}</td>'
        f'<td data-label="String">{escape(s.fingerprint)}</td>'
        f'<td data-label="Kind">{escape(_kind(s))}</td>'
    )  # fmt: skip
    return f"<tr>{cells}</tr>"


def _kind(s: Snapshot) -> str:
    """Type, Page and limited grants of a snapshot (SPEC 16)."""
    parts = [s.token_type or ""]
    if s.profile_id:
        parts.append(f"page {s.profile_id}")
    granted = _json(s.granular_scopes)
    for g in granted if isinstance(granted, list) else []:
        if isinstance(g, dict) and g.get("target_ids"):
            parts.append(f"{g.get('scope')} on {', '.join(map(str, g['target_ids']))}")
    if s.validity_source == "me":
        parts.append("via /me")
    return "; ".join(p for p in parts if p) or "-"


def _history(view: TokenView, now: float) -> str:
    if not view.history:
        return '<p class="meta">Never checked.</p>'
    head = "".join(f"<th>{h}</th>" for h in HISTORY_HEADERS)
    body = "\n".join(_snapshot(s, now) for s in view.history)
    bound = f"the newest {HISTORY_ROWS}" if len(view.history) >= HISTORY_ROWS else "every change"
    note = f'<p class="meta">One row per change of what a check observed, newest first ({bound}).</p>'
    return f'{note}<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_token_page(view: TokenView, now: float, h: Horizons, *, version: str = "") -> str:
    """The whole page of one token."""
    name = view.row.name
    expiry = f"{humanize_duration(h.expiry_critical)} / {humanize_duration(h.expiry_warning)}"
    data_access = f"{humanize_duration(h.data_access_critical)} / {humanize_duration(h.data_access_warning)}"
    legend = (
        f'<p class="meta legend">Days left<span style="background:{BLUE}"></span>token expiry'
        f'<span style="background:{PURPLE}"></span>data access; shaded: the critical (red) and warning '
        f"(amber) thresholds, expiry {expiry}, data access {data_access}</p>"
    )
    body = "\n".join((
        '<p><a href="/">&larr; all tokens</a></p>', f"<h1>{escape(name)}</h1>",
        meta_line(f"token {name}", now, version), _identity(view, now),
        "<h2>Timeline</h2>", legend, timeline(view.observations(), now, h),
        "<h2>Checks and refreshes</h2>", _checks(view, now), "<h2>Alerts</h2>", _alerts(view, now),
        "<h2>Changes</h2>", _changes(view, now), "<h2>History</h2>", _history(view, now),
    ))  # fmt: skip
    return html_page(f"{name} - Threads token monitor", body)
