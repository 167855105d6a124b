"""The fleet page at GET /: counts per state, search and filters, one page of tokens (trouble first) and the
expiries-per-day chart, as plain HTML with inline CSS and SVG (no JavaScript), one card per token on a phone.

Everything shown passes through html.escape; rows never carry a token string.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from monitor.graph.platforms import PLATFORMS
from monitor.state import Horizons
from monitor.status import StatusRow, describe_state, until
from monitor.timefmt import iso_utc
from monitor.web.charts import BLUE, PURPLE, day_bars
from monitor.web.fleet import BUCKETS, PAGE_SIZE, Filters, Listing
from monitor.web.layout import html_page, meta_line
from monitor.web.overview import Overview
from monitor.web.params import href

TITLE = "Threads token monitor"
HEADERS = (
    "Token",
    "App",
    "Platform",
    "State",
    "Expires",
    "Data access expires",
    "Last check",
    "Labels",
    "Scopes",
    "",
)


def token_href(name: str) -> str:
    """The token page's path for `name` (URL-encoded, so any name is one path segment)."""
    return "/tokens/" + quote(name, safe="")


def _when(at: float | None, now: float, word: str | None = None) -> str:
    """A time cell's title and text; `word` ("never", "unknown") when there is no time."""
    iso = iso_utc(at) if at else ""
    return f'title="{escape(iso)}">{escape(word or until(at, now))}'


def _row(bucket: str, row: StatusRow, now: float) -> str:
    checked = until(row.last_check_at, now) if row.last_check_at else "never"
    labels = ", ".join(f"{k}={v}" for k, v in row.labels)
    cells = (
        f'<td>{escape(row.name)}</td><td data-label="App">{escape(row.app)}</td>'
        f'<td data-label="Platform">{escape(row.platform)}</td>'
        f'<td class="state s-{bucket}">{escape(describe_state(row))}</td>'
        f'<td data-label="Expires" {_when(row.expires_at, now, row.expiry)}</td>'
        f'<td data-label="Data access" {_when(row.data_access_expires_at, now)}</td>'
        f'<td data-label="Last check">{escape(checked)}</td>'
        f'<td class="labels" data-label="Labels">{escape(labels)}</td>'
        f'<td class="scopes" data-label="Scopes">{escape(", ".join(row.scopes))}</td>'
        f'<td class="go"><a href="{escape(token_href(row.name))}" '
        f'aria-label="details of {escape(row.name)}">&rsaquo;</a></td>'
    )
    return f'<tr class="row">{cells}</tr>'


def _counts(listing: Listing, filters: Filters) -> str:
    total = sum(listing.counts.values())
    links = [_badge("all", total, filters.state is None, href(filters, state=None))]
    for bucket in BUCKETS:
        n = listing.counts[bucket]
        if n or filters.state == bucket:
            links.append(_badge(bucket, n, filters.state == bucket, href(filters, state=bucket)))
    return f'<nav class="counts" aria-label="tokens per state">{"".join(links)}</nav>'


def _badge(bucket: str, n: int, on: bool, link: str) -> str:
    cls = f"s-{bucket}{' on' if on else ''}"
    current = ' aria-current="page"' if on else ""
    return f'<a class="{cls}" href="{escape(link)}"{current}>{n:,} {bucket}</a>'


def _search(filters: Filters, apps: Sequence[str]) -> str:
    states = "".join(
        f'<option value="{b}"{" selected" if filters.state == b else ""}>{b}</option>' for b in BUCKETS
    )
    app_options = "".join(
        f'<option value="{escape(a)}"{" selected" if filters.app == a else ""}>{escape(a)}</option>'
        for a in apps
    )
    platform_options = "".join(
        f'<option value="{p}"{" selected" if filters.platform == p else ""}>{p}</option>' for p in PLATFORMS
    )
    return (
        '<form class="search" method="get" action="/" role="search">'
        f'<input type="search" name="q" value="{escape(filters.q)}" '
        'placeholder="name, app, label or key=value" aria-label="search" '
        'title="Part of a name, an app or a label, in any case; key=value: a label with exactly that value">'
        f'<select name="state" aria-label="state"><option value="">any state</option>{states}</select>'
        f'<select name="app" aria-label="app"><option value="">any app</option>{app_options}</select>'
        f'<select name="platform" aria-label="platform"><option value="">any platform</option>'
        f"{platform_options}</select>"
        '<button type="submit">Search</button></form>'
    )


def _pager(listing: Listing, filters: Filters) -> str:
    if listing.pages <= 1:
        return ""
    first = (listing.page - 1) * PAGE_SIZE + 1
    shown = f"{first:,}&ndash;{first + len(listing.rows) - 1:,} of {listing.matching:,}"
    here, last = listing.page, listing.pages
    links = []
    if here > 1:
        links += [_link(filters, 1, "&laquo; first"), _link(filters, here - 1, "&lsaquo; previous", "prev")]
    links.append(f"<span>page {here:,} of {last:,} ({shown})</span>")
    if here < last:
        links += [_link(filters, here + 1, "next &rsaquo;", "next"), _link(filters, last, "last &raquo;")]
    return f'<nav class="pager" aria-label="pages">{"".join(links)}</nav>'


def _link(filters: Filters, page: int, text: str, rel: str = "") -> str:
    rel_attr = f' rel="{rel}"' if rel else ""
    return f'<a href="{escape(href(filters, page=page))}"{rel_attr}>{text}</a>'


def _overview(overview: Overview, h: Horizons) -> str:
    days = len(overview.expiring)
    legend = (
        f'<p class="meta legend">Whole fleet, valid tokens, per UTC day:<span style="background:{BLUE}">'
        f'</span>token expires<span style="background:{PURPLE}"></span>data access expires</p>'
    )
    chart = day_bars(overview.start, overview.expiring, overview.data_access, h)
    return f"<section><h2>Reaching a horizon in the next {days} days</h2>{legend}{chart}</section>"


def _table(listing: Listing, filters: Filters, now: float) -> str:
    if not listing.rows:
        empty = (
            "No tokens registered." if listing.matching == 0 and filters == Filters() else "No tokens here."
        )
        return f'<p class="meta">{empty} <a href="/">All tokens</a></p>'
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    body = "\n".join(_row(bucket, row, now) for bucket, row in listing.rows)
    table = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    return f'<div class="wrap">{table}</div>'


def render_fleet_page(
    listing: Listing,
    filters: Filters,
    overview: Overview,
    apps: Sequence[str],
    now: float,
    h: Horizons,
    *,
    version: str = "",
) -> str:
    """The whole fleet page: trouble first, healthy tokens by name, PAGE_SIZE rows a page."""
    scope = " matching" if filters.q or filters.app or filters.platform else ""
    body = "\n".join((
        f'<h1><a href="/" style="color:inherit;text-decoration:none">{TITLE}</a></h1>',
        meta_line(f"{sum(listing.counts.values()):,} token(s){scope}", now, version),
        _search(filters, apps), _counts(listing, filters), _overview(overview, h),
        _table(listing, filters, now), _pager(listing, filters),
    ))  # fmt: skip
    return html_page(TITLE, body)
