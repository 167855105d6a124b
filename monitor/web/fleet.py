"""The fleet page's reads: counts per state, one page of rows, trouble first, without a full scan.

A token's state is not stored: it depends on `now` and the thresholds. Each state ("bucket") is written
here as a WHERE clause whose leading terms an index answers (is_valid, expires_at, data_access_expires_at,
last_result), so counting the few tokens in trouble reads only them, healthy tokens are total minus trouble,
and a page is one LIMIT/OFFSET query inside the buckets it spans. Tests hold these clauses to
monitor.state.token_state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from monitor.db.models import App, Token
from monitor.state import Horizons
from monitor.status import STATUS_SELECT, StatusRow, label_pairs, mute_of
from monitor.web.search import search_clause

# Trouble first; "failing" is an ok token whose latest check got no answer (the last answer still holds).
BUCKETS = ("invalid", "critical", "warning", "failing", "unchecked", "ok")
FAILED = ("error", "throttled")
PAGE_SIZE = 100
FEW_MATCHES = 5000
NEVER = 1e18  # stands for a horizon that never comes (NULL), later than any timestamp


@dataclass(frozen=True)
class Filters:
    """What the visitor asked for: a search text, one state, one app (each optional) and a page number."""

    q: str = ""
    state: str | None = None
    app: str | None = None
    page: int = 1


@dataclass(frozen=True)
class Listing:
    """One page of the fleet: counts per bucket under the search and app filters, and the rows shown."""

    counts: dict[str, int]
    rows: list[tuple[str, StatusRow]]  # (bucket, row)
    matching: int  # tokens under every filter, the state one included
    page: int
    pages: int


def _checked(bad_apps: Sequence[int]) -> ColumnElement[bool]:
    """Not unchecked for a reason other than is_valid (which each bucket tests itself)."""
    answered = func.coalesce(Token.last_result, "") != "inspector"
    return and_(answered, Token.app_id.not_in(bad_apps)) if bad_apps else answered


def _near(now: float, expiry: float, data_access: float) -> tuple[ColumnElement[bool], ...]:
    """(inside the window on either horizon, outside it on both): NULL means never expires.

    Only "inside" may use the horizon indexes; "outside" holds nearly every token, so its columns are
    wrapped (a planner without statistics, SQLite's, would otherwise walk the index for it).
    """
    exp, dae = now + expiry, now + data_access
    inside = or_(Token.expires_at <= exp, Token.data_access_expires_at <= dae)
    outside = and_(
        func.coalesce(Token.expires_at, NEVER) > exp,
        func.coalesce(Token.data_access_expires_at, NEVER) > dae,
    )
    return inside, outside


def bucket_clauses(h: Horizons, now: float, bad_apps: Sequence[int]) -> dict[str, ColumnElement[bool]]:
    """A WHERE clause per bucket; together they split the tokens with no overlap.

    `bad_apps`: ids of apps whose inspector credential is refused (their tokens are unchecked).
    """
    checked = _checked(bad_apps)
    # Wrapped: SQLite's planner has no statistics and would walk the is_valid index, true for nearly all.
    valid = and_(checked, func.coalesce(Token.is_valid, false()) == true())
    critical, not_critical = _near(now, h.expiry_critical, h.data_access_critical)
    warning, not_warning = _near(now, h.expiry_warning, h.data_access_warning)
    failed = Token.last_result.in_(FAILED)
    unchecked = or_(Token.is_valid.is_(None), Token.last_result == "inspector")
    return {
        "invalid": and_(Token.is_valid == false(), checked),
        "critical": and_(critical, valid),
        "warning": and_(warning, valid, not_critical),
        "failing": and_(failed, valid, not_warning),
        "unchecked": or_(unchecked, Token.app_id.in_(bad_apps)) if bad_apps else unchecked,
        "ok": and_(valid, not_warning, or_(Token.last_result.is_(None), Token.last_result.not_in(FAILED))),
    }


def bad_app_ids(session: Session) -> list[int]:
    """Apps whose inspector credential was refused: a tiny table, read once per request."""
    return list(session.scalars(select(App.id).where(App.inspector_state == "invalid")))


def filter_clause(session: Session, filters: Filters) -> ColumnElement[bool]:
    """The search text (monitor.web.search: name, app or label, case folded; `key=value` matches one
    label's whole value) and the app filter.

    A search cannot use an index, so it reads the table once here: when it matches at most FEW_MATCHES
    tokens, the counts and the page then take those tokens by primary key instead of searching again.
    """
    where: ColumnElement[bool] = true()
    if filters.app is not None:
        where = Token.app_id == select(App.id).where(App.name == filters.app).scalar_subquery()
    if not filters.q:
        return where
    return and_(where, search_clause(session, filters.q, where, FEW_MATCHES))


def count_buckets(
    session: Session, clauses: dict[str, ColumnElement[bool]], where: ColumnElement[bool]
) -> dict[str, int]:
    """Tokens per bucket under `where`, in one statement of indexed counts (ok: total minus trouble)."""

    def count(*terms: ColumnElement[bool]) -> Any:
        return select(func.count()).select_from(Token).where(*terms).scalar_subquery()

    trouble = BUCKETS[:-1]
    row = session.execute(select(count(where), *(count(clauses[b], where) for b in trouble))).one()
    counts = {b: int(n) for b, n in zip(trouble, row[1:], strict=True)}
    counts["ok"] = max(0, int(row[0]) - sum(counts.values()))  # a token added between the counts: never < 0
    return counts


ROW_COLUMNS = STATUS_SELECT
STATE_OF_BUCKET = {"failing": "ok"}


def _soonest() -> ColumnElement[Any]:
    exp, dae = Token.expires_at, Token.data_access_expires_at
    return case((exp.is_(None), dae), (dae.is_(None), exp), (exp < dae, exp), else_=dae)


def _order(bucket: str) -> list[Any]:
    """Healthy tokens by name (an index walk), trouble by soonest expiry of either horizon, then name."""
    if bucket == "ok":
        return [Token.name]
    soonest = _soonest()
    return [soonest.is_(None), soonest, Token.name]


def bucket_query(
    bucket: str, clause: ColumnElement[bool], where: ColumnElement[bool], offset: int, limit: int
) -> Select[Any]:
    """One page of a bucket. The offset is walked over ids alone (a deferred join): a deep page sorts or
    skips narrow tuples, and only the rows shown are read whole. A derived table rather than IN, since
    MariaDB refuses LIMIT inside IN."""
    order = _order(bucket)
    ids = select(Token.id).where(clause, where).order_by(*order).offset(offset).limit(limit).subquery()
    stmt = select(*ROW_COLUMNS).join(ids, ids.c.id == Token.id).join(App, Token.app_id == App.id)
    return stmt.order_by(*order)


def status_row(bucket: str, r: Any, now: float) -> StatusRow:
    """A selected row (ROW_COLUMNS) as the StatusRow the pages and `status` share."""
    result = "inspector" if r[11] == "invalid" else r[6]
    state = STATE_OF_BUCKET.get(bucket, bucket)
    scopes = tuple((r[8] or "").split())
    mute = mute_of(r[16], r[17], r[18], r[19], now=now)
    return StatusRow(r[0], r[1], state, r[3], r[4], r[5], result, r[7], scopes, r[9], r[10],
                     label_pairs(r[12]), r[13], r[14], r[15], *mute)  # fmt: skip


def read_listing(session: Session, filters: Filters, h: Horizons, now: float) -> Listing:
    """Counts and the rows of `filters.page`, reading only the buckets that page spans."""
    clauses = bucket_clauses(h, now, bad_app_ids(session))
    where = filter_clause(session, filters)
    counts = count_buckets(session, clauses, where)
    shown = [filters.state] if filters.state else list(BUCKETS)
    matching = sum(counts[b] for b in shown)
    skip, rows = (filters.page - 1) * PAGE_SIZE, list[tuple[str, StatusRow]]()
    for bucket in shown:
        if skip >= counts[bucket]:
            skip -= counts[bucket]
            continue
        stmt = bucket_query(bucket, clauses[bucket], where, skip, PAGE_SIZE - len(rows))
        rows += [(bucket, status_row(bucket, r, now)) for r in session.execute(stmt)]
        skip = 0
        if len(rows) >= PAGE_SIZE:
            break
    pages = max(1, -(-matching // PAGE_SIZE))
    return Listing(counts, rows, matching, filters.page, pages)


def app_names(session: Session) -> list[str]:
    """Every registered app's name, for the app filter (apps are few)."""
    return list(session.scalars(select(App.name).order_by(App.name)))
