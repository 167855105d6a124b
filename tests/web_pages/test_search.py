"""The status page's search on every backend: case folded the Unicode way (str.casefold) in names, apps and
label keys and values alike; `key=value` matches one label's whole value; control characters are refused.
A property test holds the database's answer to the one pure definition, monitor.web.search.matches.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pages_helpers import NOW, add_apps, add_tokens, migrated, token
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import App, Token
from monitor.state import Horizons
from monitor.web.fleet import Filters, read_listing
from monitor.web.params import BadRequest, parse_filters
from monitor.web.routes import fleet_response
from monitor.web.search import matches

H = Horizons()
LABELS = {
    "acme-main": {"team": "Straße", "owner": "Zoë Ünal"},
    "acme-two": {"team": "growth"},
    "beta-1": {"team": "growth-eu", "city": "Kraków"},
    "beta-2": {"team": "ÉQUIPE", "note": 'say "hi"'},
    "beta-3": {},
}


def names(sessions: sessionmaker[Session], q: str) -> list[str]:
    with sessions() as s:
        return sorted(r.name for _, r in read_listing(s, Filters(q=q), H, NOW).rows)


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    sessions = migrated(db_url)
    apps = add_apps(sessions, "acme", "Beta")
    add_tokens(
        sessions,
        [token(n, apps[n.split("-")[0].replace("beta", "Beta")], labels=v) for n, v in LABELS.items()],
    )
    return sessions


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("STRASSE", ["acme-main"]),  # ß folds to ss
        ("strasse", ["acme-main"]),
        ("zoë", ["acme-main"]),
        ("ZOË ÜNAL", ["acme-main"]),
        ("équipe", ["beta-2"]),
        ("KRAKÓW", ["beta-1"]),
        ("growth", ["acme-two", "beta-1"]),
        ("team=growth", ["acme-two"]),  # the whole value: growth-eu is another team
        ("TEAM=GROWTH", ["acme-two"]),
        ("team=strasse", ["acme-main"]),
        ("team=Straße", ["acme-main"]),
        ("team=grow", []),
        ('note=say "hi"', ["beta-2"]),
        ("owner=zoë ünal", ["acme-main"]),
        ("beta", ["beta-1", "beta-2", "beta-3"]),  # names and the app's name
        ("BETA-2", ["beta-2"]),
        ("=growth", []),  # no key: the text "=growth" itself, found nowhere
    ],
)
def test_search_folds_case_the_unicode_way(
    sessions: sessionmaker[Session], q: str, expected: list[str]
) -> None:
    assert names(sessions, q) == expected
    assert sorted(n for n, labels in LABELS.items() if matches(q, n, _app(n), labels)) == expected


@pytest.mark.parametrize("q", ["%00", "a%00b", "%01", "%1b%5b2J", "%7f", "a%c2%85b"])
def test_control_characters_in_a_search_are_refused(sqlite_url: str, q: str) -> None:
    with pytest.raises(BadRequest):
        parse_filters(f"q={q}")
    with pytest.raises(BadRequest):
        parse_filters(f"app={q}")
    status, _, body = fleet_response(migrated(sqlite_url), f"q={q}", NOW, H)
    assert status == 400 and b"control characters" in body


TEXT = st.text(alphabet=st.sampled_from('aAsSßẞkKKéÉ-=_%"İıi ǅﬁ'), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=TEXT.filter(lambda t: t.strip() != ""), values=st.lists(TEXT, min_size=1, max_size=4))
def test_the_database_answers_what_matches_defines(
    sessions: sessionmaker[Session], q: str, values: list[str]
) -> None:
    """Whatever the text, SQL and the pure definition agree: the database is only a faster way to ask."""
    with sessions.begin() as s:
        s.execute(delete(Token).where(Token.name.like("p-%")))
    with sessions() as s:
        apps = dict(s.execute(select(App.name, App.id)).all())
    rows = {f"p-{i}": {"k": v, "x": "y"} for i, v in enumerate(values)}
    add_tokens(sessions, [token(n, apps["acme"], labels=labels) for n, labels in rows.items()])
    q = q.strip()
    expected = sorted(n for n, labels in {**LABELS, **rows}.items() if matches(q, n, _app(n), labels))
    assert names(sessions, q) == expected


def _app(name: str) -> str:
    return "Beta" if name.startswith("beta") else "acme"
