"""monitor.state.sql holds to monitor.state.rule: every SQL form of the state rule gives, on SQLite,
PostgreSQL and MariaDB, the answer the Python rule gives for the same rows (hypothesis draws the rows and
the thresholds).

- state_case is token_state (with seen_result's refused-inspector override), row for row;
- bucket_clauses put every token in exactly the bucket bucket_of names;
- problems_filter holds every token whose state is not OK, and every unanswered one (outside it: all OK);
- trouble holds every invalid, critical and warning token (the alert rules decide among them);
- StatusRow.from_row, through status_rows, reads the same state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.migrate import upgrade
from monitor.db.models import App, Token
from monitor.db.session import make_engine, make_sessionmaker
from monitor.state import BUCKETS, FAILED, Horizons, State, bucket_of, seen_result, token_state
from monitor.state.sql import bucket_clauses, problems_filter, refused_apps_query, state_case, trouble
from monitor.status import status_rows

NOW = 1_800_000_000.0  # whole seconds: every drawn time is exact in a double, in Python and in the database
DAY = 86400
APPS = {"fine": "ok", "unused": None, "refused": "invalid"}  # app name -> inspector_state
RESULTS = (None, "valid", "invalid", "inspector", "throttled", "error")

FORMS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def horizons(draw: st.DrawFn) -> Horizons:
    """The defaults, or thresholds in whole seconds with critical never after warning (as config demands)."""
    if draw(st.booleans()):
        return Horizons()
    seconds = st.integers(0, 30 * DAY)
    ec, dc = draw(seconds), draw(seconds)
    return Horizons(ec + draw(seconds), ec, dc + draw(seconds), dc)


def at(h: Horizons) -> st.SearchStrategy[float | None]:
    """None (never), a time on a threshold or a second either side, or anywhere from 10 days ago to 100 ahead
    (the thresholds drawn most: where `<` and `<=` differ)."""
    edges = sorted({h.expiry_warning, h.expiry_critical, h.data_access_warning, h.data_access_critical, 0.0})
    on = [NOW + e for e in edges]
    beside = [NOW + e + d for e in edges for d in (-1, 1)]
    anywhere = st.integers(-10 * DAY, 100 * DAY).map(lambda s: NOW + s)
    return st.one_of(st.none(), st.sampled_from(on), st.sampled_from(on), st.sampled_from(beside), anywhere)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Horizons, list[dict[str, Any]]]:
    h = draw(horizons())
    tokens = st.fixed_dictionaries(
        {
            "app": st.sampled_from(sorted(APPS)),
            "is_valid": st.sampled_from((None, True, True, False)),
            "last_result": st.sampled_from(RESULTS),
            "expires_at": at(h),
            "data_access_expires_at": at(h),
        }
    )
    return h, draw(st.lists(tokens, min_size=1, max_size=40))


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    upgrade(engine)
    made = make_sessionmaker(engine)
    with made.begin() as s:
        for name, state in APPS.items():
            s.execute(
                insert(App).values(
                    name=name,
                    inspector_kind="user_token",
                    inspector_secret="-",
                    inspector_fingerprint="0" * 12,
                    inspector_state=state,
                    created_at=NOW,
                )
            )
    yield made
    engine.dispose()


def store(sessions: sessionmaker[Session], drawn: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Replace every token with the drawn ones (named t0, t1...); name -> the drawn values."""
    by_name = {f"t{i:02d}": t for i, t in enumerate(drawn)}
    with sessions.begin() as s:
        app_ids = {name: id_ for id_, name in s.execute(select(App.id, App.name))}
        s.execute(delete(Token))
        s.execute(
            insert(Token),
            [
                {
                    "name": name,
                    "app_id": app_ids[t["app"]],
                    "secret": "-",
                    "fingerprint": "f" * 12,
                    "labels": {},
                    "auto_refresh": False,
                    "created_at": NOW - DAY,
                    "updated_at": NOW,
                    "secret_changed_at": NOW - DAY,
                    "next_check_at": NOW + 3600,
                    "consecutive_failures": 0,
                    "refresh_failures": 0,
                    "is_valid": t["is_valid"],
                    "last_result": t["last_result"],
                    "expires_at": t["expires_at"],
                    "data_access_expires_at": t["data_access_expires_at"],
                }
                for name, t in by_name.items()
            ],
        )
    return by_name


def expected(t: dict[str, Any], h: Horizons) -> tuple[State, str | None]:
    """(the Python rule's state, the result it read) of one drawn token."""
    result = seen_result(t["last_result"], APPS[t["app"]])
    state = token_state(
        is_valid=t["is_valid"],
        expires_at=t["expires_at"],
        data_access_expires_at=t["data_access_expires_at"],
        last_result=result,
        horizons=h,
        now=NOW,
    )
    return state, result


@FORMS
@given(drawn=fleets())
def test_every_sql_form_agrees_with_the_rule(sessions: sessionmaker[Session], drawn: tuple) -> None:
    h, rows = drawn
    tokens = store(sessions, rows)
    want = {name: expected(t, h) for name, t in tokens.items()}
    with sessions() as s:
        refused = list(s.scalars(refused_apps_query()))
        stmt = select(Token.name, state_case(h, NOW)).join(App, Token.app_id == App.id)
        states = {name: state for name, state in s.execute(stmt)}
        clauses = bucket_clauses(h, NOW, refused)
        in_bucket = {b: set(s.scalars(select(Token.name).where(clauses[b]))) for b in BUCKETS}
        problems = set(s.scalars(select(Token.name).where(problems_filter(h, NOW, refused))))
        in_trouble = set(s.scalars(select(Token.name).where(or_(*trouble(h, NOW)))))
        rows_state = {r.name: r.state for r in status_rows(s, h, NOW)}

    assert states == {name: state.value for name, (state, _) in want.items()}
    assert rows_state == states
    for name, (state, result) in want.items():
        assert [b for b in BUCKETS if name in in_bucket[b]] == [bucket_of(state, result)], name
        worth_a_series = state != State.OK or result is None or result in FAILED
        assert (name in problems) >= worth_a_series, name
        if name not in problems:
            assert state == State.OK, name
        if state in (State.INVALID, State.CRITICAL, State.WARNING):
            assert name in in_trouble, name
