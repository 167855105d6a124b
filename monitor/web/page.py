"""The status page at GET /: the `status` table as plain HTML (inline CSS, no JavaScript), for phones too.

Everything shown passes through html.escape; status rows never carry a token string.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from string import Template

from monitor.status import StatusRow, describe_state, until
from monitor.timefmt import iso_utc

MAX_ROWS = 500  # worst first; a 100,000-token fleet must not make a 50 MB page

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>$title</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem;color:#1d1d1f;
  background:#fafafa}
h1{font-size:1.3rem;margin:0 0 .3rem}
p.meta{color:#666;margin:.2rem 0 1rem;font-size:.9rem}
.counts span{display:inline-block;margin:0 .4rem .4rem 0;padding:.15rem .5rem;border-radius:.8rem;
  font-size:.85rem}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e5e5e5;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}
td.scopes{white-space:normal;color:#555;font-size:.8rem}
.s-ok{background:#e6f4ea;color:#137333}
.s-warning{background:#fef7e0;color:#8a5a00}
.s-critical{background:#fce8e6;color:#a50e0e;font-weight:600}
.s-invalid{background:#a50e0e;color:#fff;font-weight:600}
.s-unchecked{background:#eee;color:#555}
td.state{border-radius:.3rem}
@media (max-width:600px){
  thead{display:none}
  table,tbody,tr,td{display:block;width:auto}
  tr{margin:0 0 .6rem;border:1px solid #e5e5e5;border-radius:.4rem;background:#fff}
  td{border:0;padding:.2rem .6rem;white-space:normal}
  td[data-label]::before{content:attr(data-label) ": ";color:#777;font-size:.8rem}
  td:first-child{font-weight:600}
}
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">$meta</p>
<div class="counts">$counts</div>
<div class="wrap">
<table>
<thead><tr><th>Token</th><th>App</th><th>State</th><th>Expires</th><th>Data access expires</th>
<th>Last check</th><th>Scopes</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
</div>
$more
</body>
</html>
""")

STATE_ORDER = ("invalid", "critical", "warning", "unchecked", "ok")


def _row(row: StatusRow, now: float) -> str:
    checked = until(row.last_check_at, now) if row.last_check_at else "never"
    cells = (
        f'<td>{escape(row.name)}</td><td data-label="App">{escape(row.app)}</td>'
        f'<td class="state s-{escape(row.state)}">{escape(describe_state(row))}</td>'
        f'<td data-label="Expires" title="{escape(iso_utc(row.expires_at) if row.expires_at else "")}">'
        f"{escape(until(row.expires_at, now))}</td>"
        f'<td data-label="Data access" '
        f'title="{escape(iso_utc(row.data_access_expires_at) if row.data_access_expires_at else "")}">'
        f"{escape(until(row.data_access_expires_at, now))}</td>"
        f'<td data-label="Last check">{escape(checked)}</td>'
        f'<td class="scopes" data-label="Scopes">{escape(", ".join(row.scopes))}</td>'
    )
    return f"<tr>{cells}</tr>"


def render_status_page(
    rows: list[StatusRow], now: float, *, title: str = "Threads token monitor", version: str = ""
) -> str:
    """The whole page for `rows` (worst first, as status_rows returns them)."""
    counts = Counter(r.state for r in rows)
    badges = "".join(f'<span class="s-{s}">{counts[s]} {s}</span>' for s in STATE_ORDER if counts[s])
    shown = rows[:MAX_ROWS]
    body = "\n".join(_row(r, now) for r in shown) or '<tr><td colspan="7">No tokens registered.</td></tr>'
    more = (
        f'<p class="meta">Showing the {len(shown)} most urgent of {len(rows)} tokens.</p>'
        if len(rows) > len(shown)
        else ""
    )
    meta = f"{len(rows)} token(s) as of {iso_utc(now)}"
    if version:
        meta += f" &middot; version {escape(version)}"
    return PAGE.substitute(title=escape(title), meta=meta, counts=badges, rows=body, more=more)
