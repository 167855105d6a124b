"""The fleet page's reads: counts per state, one page of rows, trouble first, without a full scan.

A token's state is not stored: it depends on `now` and the thresholds. Each state ("bucket") is a WHERE
clause (monitor.state.sql.bucket_clauses) whose leading terms an index answers, so counting the few tokens in
trouble reads only them, healthy tokens are total minus trouble, and a page is one LIMIT/OFFSET query inside
the buckets it spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select, true
from sqlalchemy.orm import Session

from monitor.db.models import App, Token
from monitor.state import BUCKETS, Horizons
from monitor.state.row import StatusRow
from monitor.state.sql import STATUS_SELECT, bucket_clauses, refused_apps_query
from monitor.web.search import search_clause

__all__ = ["BUCKETS", "PAGE_SIZE", "Filters", "Listing", "app_names", "count_buckets", "read_listing"]

PAGE_SIZE = 100
FEW_MATCHES = 5000


@dataclass(frozen=True)
class Filters:
    """What the visitor asked for: a search text, one state, one app (each optional) and a page number."""

    q: str = ""
    state: str | None = None
    app: str | None = None
    page: int = 1
    platform: str | None = None  # SPEC 16: only the tokens of apps of this platform


@dataclass(frozen=True)
class Listing:
    """One page of the fleet: counts per bucket under the search and app filters, and the rows shown."""

    counts: dict[str, int]
    rows: list[tuple[str, StatusRow]]  # (bucket, row)
    matching: int  # tokens under every filter, the state one included
    page: int
    pages: int


def filter_clause(session: Session, filters: Filters) -> ColumnElement[bool]:
    """The search text (monitor.web.search: name, app or label, case folded; `key=value` matches one
    label's whole value) and the app filter.

    A search cannot use an index, so it reads the table once here: when it matches at most FEW_MATCHES
    tokens, the counts and the page then take those tokens by primary key instead of searching again.
    """
    where: ColumnElement[bool] = true()
    if filters.app is not None:
        where = Token.app_id == select(App.id).where(App.name == filters.app).scalar_subquery()
    if filters.platform is not None:  # apps are few: their ids, then the tokens' app index
        where = and_(where, Token.app_id.in_(select(App.id).where(App.platform == filters.platform)))
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
    stmt = select(*STATUS_SELECT).join(ids, ids.c.id == Token.id).join(App, Token.app_id == App.id)
    return stmt.order_by(*order)


def read_listing(session: Session, filters: Filters, h: Horizons, now: float) -> Listing:
    """Counts and the rows of `filters.page`, reading only the buckets that page spans."""
    clauses = bucket_clauses(h, now, list(session.scalars(refused_apps_query())))
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
        rows += [(bucket, StatusRow.from_row(r._mapping, h, now)) for r in session.execute(stmt)]
        skip = 0
        if len(rows) >= PAGE_SIZE:
            break
    pages = max(1, -(-matching // PAGE_SIZE))
    return Listing(counts, rows, matching, filters.page, pages)


def app_names(session: Session) -> list[str]:
    """Every registered app's name, for the app filter (apps are few)."""
    return list(session.scalars(select(App.name).order_by(App.name)))
