"""The frame every status page shares: inline CSS (no external asset, no JavaScript) and the HTML shell.

On a narrow screen a table becomes one card per row; a row's last cell holds a link stretched over the
whole row, so a tap anywhere on a token opens its page.
"""

from __future__ import annotations

from html import escape
from string import Template

from monitor.timefmt import iso_utc

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem;color:#1d1d1f;
  background:#fafafa}
a{color:#1a5fb4}
h1{font-size:1.3rem;margin:0 0 .3rem;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
p.meta{color:#666;margin:.2rem 0 1rem;font-size:.9rem}
.counts a{display:inline-block;margin:0 .4rem .4rem 0;padding:.15rem .55rem;border-radius:.8rem;
  font-size:.85rem;text-decoration:none;border:2px solid transparent}
.counts a.on{border-color:#1d1d1f}
form.search{display:flex;flex-wrap:wrap;gap:.4rem;margin:0 0 .8rem}
form.search input[type=search]{flex:1 1 14rem;padding:.35rem;font-size:1rem}
form.search select,form.search button{padding:.35rem;font-size:.95rem}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e5e5e5;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}
td.scopes,td.labels,td.detail{white-space:normal;color:#555;font-size:.8rem;overflow-wrap:break-word}
tr.row{position:relative}
tr.row:hover{background:#f5f8ff}
td.go a{text-decoration:none;font-weight:600}
td.go a::after{content:"";position:absolute;inset:0}
.s-ok{background:#e6f4ea;color:#137333}
.s-warning{background:#fef7e0;color:#8a5a00}
.s-critical{background:#fce8e6;color:#a50e0e;font-weight:600}
.s-invalid{background:#a50e0e;color:#fff;font-weight:600}
.s-unchecked{background:#eee;color:#555}
.s-failing{background:#fde7d9;color:#9c3d00}
.s-all{background:#e8eaed;color:#333}
td.state{border-radius:.3rem}
.pager{margin:.8rem 0;display:flex;flex-wrap:wrap;gap:.8rem;align-items:center}
.chart{width:100%;height:auto;max-width:52rem;background:#fff;border:1px solid #e5e5e5;border-radius:.3rem}
.chart .grid{stroke:#e0e0e0;stroke-width:1}
.chart .tick{font-size:11px;fill:#555}
.chart .ptitle{font-size:12px;fill:#333;font-weight:600}
.legend span{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;margin:0 .3rem 0 .8rem;
  vertical-align:-.1rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:#fff;padding:.6rem;
  border:1px solid #e5e5e5;border-radius:.3rem;margin:0}
dl.facts dt{color:#666}
dl.facts dd{margin:0;overflow-wrap:anywhere}
@media (max-width:600px){
  thead{display:none}
  table,tbody,tr,td{display:block;width:auto}
  tr{margin:0 0 .6rem;border:1px solid #e5e5e5;border-radius:.4rem;background:#fff}
  td{border:0;padding:.2rem .6rem;white-space:normal}
  td[data-label]::before{content:attr(data-label) ": ";color:#777;font-size:.8rem}
  td:first-child{font-weight:600;overflow-wrap:anywhere}
  td.go{position:absolute;top:.2rem;right:.4rem}
  dl.facts{grid-template-columns:1fr}
  dl.facts dt{margin-top:.3rem}
}
"""

SHELL = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="$refresh">
<title>$title</title>
<style>$css</style>
</head>
<body>
$body
</body>
</html>
""")


def html_page(title: str, body: str, *, refresh: int = 30) -> str:
    """The whole document: `title` is escaped here, `body` must already be safe markup."""
    return SHELL.substitute(title=escape(title), css=CSS, body=body, refresh=refresh)


def meta_line(text: str, now: float, version: str) -> str:
    """'<text> as of <ISO time> · version X' (escaped)."""
    out = f"{escape(text)} as of {iso_utc(now)}"
    if version:
        out += f" &middot; version {escape(version)}"
    return f'<p class="meta">{out}</p>'


def error_page(status: int, message: str) -> bytes:
    """A short page for a refused request; the message is escaped."""
    body = f'<h1>{status}</h1><p>{escape(message)}</p><p><a href="/">All tokens</a></p>'
    return html_page(f"{status}: {message}", body, refresh=3600).encode("utf-8")
