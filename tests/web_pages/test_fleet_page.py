"""The fleet page's reads (monitor.web.fleet, overview) on every backend, and GET / as a whole.

The state of each bucket is a WHERE clause; these tests hold it to monitor.state.token_state, the one
definition of a token's state, over every combination that matters.
"""

from __future__ import annotations

import itertools
import re

import pytest
from pages_helpers import DAY, NOW, add_apps, add_tokens, migrated, token
from sqlalchemy import true

from monitor.config.load import HttpConfig
from monitor.state import Horizons, token_state
from monitor.state.sql import bucket_clauses, refused_apps_query
from monitor.web import fleet
from monitor.web.fleet import BUCKETS, Filters, read_listing
from monitor.web.overview import read_overview
from monitor.web.params import BadRequest, href, parse_filters
from monitor.web.routes import fleet_response
from monitor.web.server import WebServer

H = Horizons()
HORIZON_DAYS = (None, -1.0, 1.0, 2.5, 5.0, 10.0, 20.0)


def expected_bucket(
    valid: bool | None, result: str | None, exp: float | None, dae: float | None, refused: bool
) -> str:
    result = "inspector" if refused else result
    state = token_state(
        is_valid=valid, expires_at=exp, data_access_expires_at=dae, last_result=result, horizons=H, now=NOW
    ).value
    return "failing" if state == "ok" and result in ("error", "throttled") else state


def test_buckets_agree_with_token_state(db_url: str) -> None:
    sessions = migrated(db_url)
    apps = add_apps(sessions, "good", "refused", refused=("refused",))
    rows, expected = [], {}
    combos = itertools.product(
        (None, True, False),
        (None, "valid", "invalid", "error", "throttled", "inspector"),
        HORIZON_DAYS,
        HORIZON_DAYS[:4],
        (False, True),
    )
    for i, (valid, result, e, d, refused) in enumerate(combos):
        exp = NOW + e * DAY if e is not None else None
        dae = NOW + d * DAY if d is not None else None
        name = f"t{i:05d}"
        rows.append(
            token(
                name,
                apps["refused" if refused else "good"],
                is_valid=valid,
                last_result=result,
                expires_at=exp,
                data_access_expires_at=dae,
            )
        )
        expected[name] = expected_bucket(valid, result, exp, dae, refused)
    add_tokens(sessions, rows)
    with sessions() as s:
        refused = list(s.scalars(refused_apps_query()))
        counts = fleet.count_buckets(s, bucket_clauses(H, NOW, refused), true())
        for bucket in BUCKETS:
            listing = read_listing(s, Filters(state=bucket), H, NOW)
            assert counts[bucket] == listing.matching == sum(1 for b in expected.values() if b == bucket)
        got = {}
        for bucket in BUCKETS:
            for page in range(1, read_listing(s, Filters(state=bucket), H, NOW).pages + 1):
                got.update(
                    {r.name: b for b, r in read_listing(s, Filters(state=bucket, page=page), H, NOW).rows}
                )
    assert got == expected


def test_pages_show_every_token_once_trouble_first(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "PAGE_SIZE", 7)
    sessions = migrated(sqlite_url)
    app = add_apps(sessions, "a")["a"]
    kinds = [
        {"is_valid": False, "last_result": "invalid"},
        {"expires_at": NOW + DAY},
        {"expires_at": NOW + 5 * DAY},
        {"last_result": "error"},
        {"is_valid": None, "last_result": None},
        {},
    ]
    add_tokens(sessions, [token(f"n{i:03d}", app, **kinds[i % len(kinds)]) for i in range(60)])
    with sessions() as s:
        first = read_listing(s, Filters(), H, NOW)
        pages = [read_listing(s, Filters(page=p), H, NOW) for p in range(1, first.pages + 1)]
        beyond = read_listing(s, Filters(page=first.pages + 1), H, NOW)
    seen = [(b, r.name) for p in pages for b, r in p.rows]
    assert first.pages == 9 and all(len(p.rows) == 7 for p in pages[:-1]) and beyond.rows == []
    assert sorted(n for _, n in seen) == [f"n{i:03d}" for i in range(60)]
    order = [BUCKETS.index(b) for b, _ in seen]
    assert order == sorted(order) and seen[0][0] == "invalid" and seen[-1][0] == "ok"
    healthy = [n for b, n in seen if b == "ok"]
    assert healthy == sorted(healthy)


def test_search_by_name_app_and_label_with_filters(db_url: str) -> None:
    sessions = migrated(db_url)
    apps = add_apps(sessions, "growth", "ads")
    add_tokens(
        sessions,
        [
            token("Feed-iOS", apps["growth"], labels={"team": "mobile", "os": "ios"}),
            token(
                "feed_android",
                apps["growth"],
                labels={"team": "mobile"},
                is_valid=False,
                last_result="invalid",
            ),
            token("reports", apps["ads"], labels={"team": "Finance 100%"}),
            token("feedXandroid", apps["ads"]),
        ],
    )

    def names(**kw: object) -> list[str]:
        with sessions() as s:
            return sorted(r.name for _, r in read_listing(s, Filters(**kw), H, NOW).rows)  # type: ignore[arg-type]

    assert names(q="feed") == ["Feed-iOS", "feedXandroid", "feed_android"]
    assert names(q="d_a") == ["feed_android"]  # `_` is a character, not a wildcard
    assert names(q="100%") == ["reports"] and names(q="finance") == ["reports"]
    assert names(q="ADS") == ["feedXandroid", "reports"]  # the app's name
    assert names(q="team=mobile") == ["Feed-iOS", "feed_android"] and names(q="os=android") == []
    assert names(q="feed", app="growth") == ["Feed-iOS", "feed_android"]
    assert names(q="feed", state="invalid") == ["feed_android"] and names(app="nope") == []


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=x",
        "page=-1",
        "page=1&page=2",
        "state=broken",
        "q=" + "x" * 201,
        "page=１",
        "&".join(f"k{i}=1" for i in range(30)),
    ],
)
def test_bad_parameters_answer_400_without_echoing_them(sqlite_url: str, query: str) -> None:
    status, ctype, body = fleet_response(migrated(sqlite_url), query, NOW, H)
    assert status == 400 and ctype.startswith("text/html") and len(body) < 5000
    assert b"broken" not in body and b"xxxx" not in body
    with pytest.raises(BadRequest):
        parse_filters(query)


def test_links_keep_the_other_parameters() -> None:
    f = parse_filters("q=a%26b&state=warning&app=growth+eu&page=3&utm=x")
    assert f == Filters(q="a&b", state="warning", app="growth eu", page=3)
    assert href(f, page=4) == "/?q=a%26b&state=warning&app=growth+eu&page=4"
    assert href(f, state=None) == "/?q=a%26b&app=growth+eu"  # a new filter starts at page 1
    assert href(Filters()) == "/"


def test_overview_counts_valid_tokens_per_day(db_url: str) -> None:
    sessions = migrated(db_url)
    app = add_apps(sessions, "a")["a"]
    start = NOW - NOW % DAY
    add_tokens(
        sessions,
        [
            token("d0", app, expires_at=NOW + 60, data_access_expires_at=None),
            token("d3a", app, expires_at=start + 3 * DAY + 10, data_access_expires_at=start + 3 * DAY + 99),
            token("d3b", app, expires_at=start + 3.9 * DAY, data_access_expires_at=start + 70 * DAY),
            token("dead", app, is_valid=False, expires_at=start + 3.5 * DAY),
            token("past", app, expires_at=NOW - 60, data_access_expires_at=None),
        ],
    )
    with sessions() as s:
        ov = read_overview(s, NOW)
    assert ov.start == start and len(ov.expiring) == 60
    assert ov.expiring[0] == 1 and ov.expiring[3] == 2 and sum(ov.expiring) == 3
    assert ov.data_access[3] == 1 and sum(ov.data_access) == 1


def test_the_server_dispatches_both_pages(sqlite_url: str) -> None:
    sessions = migrated(sqlite_url)
    add_tokens(sessions, [token("a/b c?", add_apps(sessions, "a")["a"])])
    web = WebServer(
        HttpConfig(listen="127.0.0.1:0"), registry=None, health=lambda: (True, {}), sessions=sessions,
        horizons=Horizons(), clock=lambda: NOW,
    )  # fmt: skip
    status, _, page, _ = web.route("/?q=b+c", None)
    link = re.search(r'href="(/tokens/[^"]+)"', page.decode())
    assert status == 200 and link is not None and link.group(1) == "/tokens/a%2Fb%20c%3F"
    status, _, body, _ = web.route(link.group(1), None)
    assert status == 200 and b"<h1>a/b c?</h1>" in body
    assert web.route("/tokens/nobody", None)[0] == 404 and web.route("/tokens/%ff", None)[0] == 404
    assert web.route("/?page=zero", None)[0] == 400
