"""The overview chart's read: valid tokens reaching each horizon per UTC day over the next days.

One grouped statement over the (is_valid, horizon) indexes: the database counts, Python receives at most
two rows per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from monitor.db.models import Token

DAY = 86400.0
OVERVIEW_DAYS = 60


class day_floor(FunctionElement[int]):  # noqa: N801 - a SQL function reads best in lower case
    """FLOOR of a non-negative number: SQLite's CAST truncates (its FLOOR is an optional extension)."""

    type = Integer()
    inherit_cache = True


@compiles(day_floor)
def _floor(element: day_floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"FLOOR({compiler.process(element.clauses, **kw)})"


@compiles(day_floor, "sqlite")
def _floor_sqlite(element: day_floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@dataclass(frozen=True)
class Overview:
    """Per day from `start` (a UTC midnight): how many valid tokens expire, how many lose data access."""

    start: float
    expiring: list[int]
    data_access: list[int]


def _per_day(
    tag: str, column: InstrumentedAttribute[float | None], now: float, start: float, days: int
) -> Select[Any]:
    day = day_floor((column - literal(start, Float)) / DAY).label("day")
    near = select(day).where(Token.is_valid == true(), column >= now, column < start + days * DAY).subquery()
    return select(literal_column(f"'{tag}'").label("horizon"), near.c.day, func.count()).group_by(near.c.day)


def read_overview(session: Session, now: float, days: int = OVERVIEW_DAYS) -> Overview:
    """Counts per day for `days` days from today (UTC), the past hours of today excluded."""
    start = now - now % DAY
    expiring, data_access = [0] * days, [0] * days
    stmt = union_all(
        _per_day("e", Token.expires_at, now, start, days),
        _per_day("d", Token.data_access_expires_at, now, start, days),
    )
    for tag, day, count in session.execute(stmt):
        if day is not None and 0 <= int(day) < days:
            (expiring if tag == "e" else data_access)[int(day)] = int(count)
    return Overview(start, expiring, data_access)
