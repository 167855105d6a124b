"""The fleet page's query string: validated once here into Filters, and written back into links.

Unknown parameters are ignored (a cache-buster must not break the page); a known one given twice, a page
that is not a whole number, an unknown state or an overlong text is refused with a short message that
never echoes the input.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from urllib.parse import parse_qs, urlencode

from monitor.graph.platforms import PLATFORMS
from monitor.web.fleet import BUCKETS, Filters

MAX_TEXT = 200
MAX_PAGE = 1_000_000
KNOWN = ("q", "state", "app", "page", "platform")


class BadRequest(Exception):
    """The query string cannot be honoured; `message` says why in a few words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _values(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise BadRequest("too many query parameters") from None
    out = {}
    for key in KNOWN:
        given = parsed.get(key, [])
        if len(given) > 1:
            raise BadRequest(f"parameter {key} given more than once")
        if given:
            out[key] = given[0].strip()
    return out


def _page(text: str) -> int:
    if not text:
        return 1
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGE}")
    return int(text)


def parse_filters(query: str) -> Filters:
    """Filters from a raw query string (the part after `?`), or BadRequest."""
    values = _values(query)
    state = values.get("state") or None
    if state is not None and state not in BUCKETS:
        raise BadRequest(f"state must be one of: {', '.join(BUCKETS)}")
    q, app = values.get("q", ""), values.get("app") or None
    if len(q) > MAX_TEXT or len(app or "") > MAX_TEXT:
        raise BadRequest(f"search text and app name are limited to {MAX_TEXT} characters")
    if any(unicodedata.category(char) == "Cc" for char in q + (app or "")):
        # A NUL ends the text in SQLite's LIKE (an empty pattern matches every token); none is a search.
        raise BadRequest("search text and app name must not hold control characters")
    platform = values.get("platform") or None
    if platform is not None and platform not in PLATFORMS:
        raise BadRequest(f"platform must be one of: {', '.join(PLATFORMS)}")
    return Filters(q=q, state=state, app=app, page=_page(values.get("page", "")), platform=platform)


def href(filters: Filters, **changes: object) -> str:
    """A link to the fleet page with `changes` applied; any change but a page's goes back to page 1."""
    if "page" not in changes:
        changes["page"] = 1
    target = replace(filters, **changes)  # type: ignore[arg-type]
    pairs = [("q", target.q), ("state", target.state or ""), ("app", target.app or "")]
    pairs.append(("platform", target.platform or ""))
    query = [(k, v) for k, v in pairs if v]
    if target.page != 1:
        query.append(("page", str(target.page)))
    return "/?" + urlencode(query) if query else "/"
