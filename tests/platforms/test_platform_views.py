"""Where SPEC 16 shows: `status` rows and table, the fleet page (column and filter), the token page, the
registry API's list filter and the token info metric, for a Page token that never expires, an Instagram
token checked through /me and a Threads token, inspected by the real sweep against the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_kinds import DAY, T0, World, world  # noqa: F401 - the fixture

from monitor.api.parse import ApiError, parse_list
from monitor.api.views import list_tokens
from monitor.commands.status_cmds import keep
from monitor.metrics.series import token_families
from monitor.metrics.tokens import read_stored
from monitor.status import status_rows, status_table
from monitor.web.fleet import Filters, app_names, read_listing
from monitor.web.overview import read_overview
from monitor.web.page import render_fleet_page
from monitor.web.params import BadRequest, parse_filters
from monitor.web.token_page import render_token_page
from monitor.web.token_view import read_token_view


@pytest.fixture
def fleet(world: World) -> Iterator[World]:  # noqa: F811 - the fixture imported above
    world.add("page", "facebook", type="PAGE", data_access_expires_at=T0 + 30 * DAY, metadata={"sso": "ios"},
              granular_scopes=[{"scope": "pages_manage_posts", "target_ids": ["111"]}],
              scopes=["pages_manage_posts"])  # fmt: skip
    world.add("insta", "instagram")
    world.add("threads", "threads")
    assert world.sweeper().sweep().inspected == 3
    yield world


def test_status_rows_and_table_say_platform_never_unknown_and_sources(fleet: World) -> None:
    with fleet.ctx.sessions() as s:
        rows = {r.name: r for r in status_rows(s, fleet.ctx.horizons, fleet.clock())}
    page, insta, threads = (rows[n].to_json() for n in ("page", "insta", "threads"))
    assert (page["platform"], page["expires_at"], page["expiry"], page["expiry_source"]) == (
        "facebook", None, "never", "never"
    )  # fmt: skip
    assert (page["state"], page["token_type"], page["validity_source"]) == ("ok", "PAGE", "debug_token")
    assert (insta["platform"], insta["expiry"], insta["validity_source"]) == ("instagram", "unknown", "me")
    assert (threads["platform"], threads["expiry"], threads["expiry_source"]) == (
        "threads",
        None,
        "debug_token",
    )
    table = status_table(list(rows.values()), fleet.clock(), colour=False).splitlines()
    assert table[0].split()[-1] == "PLATFORM"
    line = {r.split()[0]: r for r in table[1:]}
    assert "never" in line["page"] and "facebook" in line["page"] and "unknown" in line["insta"]
    wanted = [r.name for r in rows.values() if keep(r, set(), None, {}, ["facebook", "instagram"])]
    assert sorted(wanted) == ["insta", "page"]


def test_fleet_page_has_a_platform_column_and_filter(fleet: World) -> None:
    assert parse_filters("platform=facebook") == Filters(platform="facebook")
    with pytest.raises(BadRequest, match="platform must be one of"):
        parse_filters("platform=tiktok")
    now, h = fleet.clock(), fleet.ctx.horizons
    with fleet.ctx.sessions() as s:
        listing = read_listing(s, Filters(platform="facebook"), h, now)
        html = render_fleet_page(
            listing, Filters(platform="facebook"), read_overview(s, now), app_names(s), now, h
        )
    assert [row.name for _, row in listing.rows] == ["page"] and sum(listing.counts.values()) == 1
    assert '<td data-label="Platform">facebook</td>' in html and 'title="">never</td>' in html
    assert '<option value="facebook" selected>facebook</option>' in html


def test_token_page_shows_the_page_targets_metadata_and_sources(fleet: World) -> None:
    now, h = fleet.clock(), fleet.ctx.horizons
    with fleet.ctx.sessions() as s:
        page = read_token_view(s, "page", h, now)
        insta = read_token_view(s, "insta", h, now)
    assert page is not None and insta is not None
    html = render_token_page(page, now, h)
    assert "pages (facebook)" in html and "debug_token says it never expires" in html
    assert "<dt>Page (profile_id)</dt><dd>2000</dd>" in html and "pages_manage_posts: 111" in html
    assert "&quot;sso&quot;: &quot;ios&quot;" in html and "PAGE; page 2000; pages_manage_posts on 111" in html
    html = render_token_page(insta, now, h)
    assert "GET /me (debug_token cannot describe this token)" in html and ">unknown<" in html


def test_registry_api_lists_by_platform(fleet: World) -> None:
    def app_id(name: str) -> int | None:
        return None

    with pytest.raises(ApiError, match="platform must be one of"):
        parse_list("platform=myspace")
    with fleet.ctx.sessions() as s:
        found = list_tokens(s, parse_list("platform=instagram"), fleet.ctx.horizons, fleet.clock(), app_id)
    assert [t["name"] for t in found["tokens"]] == ["insta"] and found["tokens"][0]["platform"] == "instagram"


def test_the_info_series_has_the_platform_label(fleet: World) -> None:
    with fleet.ctx.engine.connect() as conn:
        stored = read_stored(conn, "all", fleet.ctx.horizons, fleet.clock())
    (info,) = [f for f in token_families(stored.rows, scopes=False) if f.name == "threads_token_info"]
    labels = {s.labels["token"]: s.labels for s in info.samples}
    assert labels["page"]["platform"] == "facebook" and labels["insta"]["platform"] == "instagram"
    assert "platform" not in labels["threads"]  # a Threads token's series reads as it always did
