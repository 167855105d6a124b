"""The status pages as functions of (session factory, request, now, thresholds) -> (status, type, body).

The HTTP server only dispatches to these, so the pages do not depend on how requests arrive.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import unquote

from sqlalchemy.orm import Session, sessionmaker

from monitor.state import Horizons
from monitor.web.fleet import app_names, read_listing
from monitor.web.layout import error_page
from monitor.web.overview import read_overview
from monitor.web.page import render_fleet_page
from monitor.web.params import BadRequest, parse_filters
from monitor.web.token_page import render_token_page
from monitor.web.token_view import read_token_view

Page = tuple[int, str, bytes]  # status, content type, body
HTML = "text/html; charset=utf-8"
TOKEN_PREFIX = "/tokens/"


class PageFunction(Protocol):
    """fleet_response and token_response: `request` is the query string of / or the path of a token page."""

    def __call__(
        self, sessions: sessionmaker[Session], request: str, now: float, h: Horizons, /, *, version: str = ""
    ) -> Page: ...


def fleet_response(
    sessions: sessionmaker[Session], query: str, now: float, h: Horizons, *, version: str = ""
) -> Page:
    """GET /?q=&state=&app=&page=: 400 for a query that cannot be honoured."""
    try:
        filters = parse_filters(query)
    except BadRequest as exc:
        return 400, HTML, error_page(400, exc.message)
    with sessions() as session:
        listing = read_listing(session, filters, h, now)
        overview = read_overview(session, now)
        apps = app_names(session)
    page = render_fleet_page(listing, filters, overview, apps, now, h, version=version)
    return 200, HTML, page.encode("utf-8")


def token_response(
    sessions: sessionmaker[Session], path: str, now: float, h: Horizons, *, version: str = ""
) -> Page:
    """GET /tokens/NAME (NAME URL-encoded): 404 for a name nobody registered."""
    name = unquote(path[len(TOKEN_PREFIX) :], errors="strict") if path.startswith(TOKEN_PREFIX) else ""
    if not name:
        return 404, HTML, error_page(404, "no such token")
    with sessions() as session:
        view = read_token_view(session, name, h, now)
    if view is None:
        return 404, HTML, error_page(404, "no such token")
    return 200, HTML, render_token_page(view, now, h, version=version).encode("utf-8")
