"""Rows by address on PostgreSQL: a row's `ctid`, where a statement that has just found and locked a row
finds it again with one heap fetch instead of another index lookup (monitor.check.store claims due tokens
by it, monitor.check.writes writes their results there first).

An address holds while nothing else writes the row: the lease (or the FOR UPDATE lock of the same statement)
keeps other claimers away, and a write that moved the row anyway (a label, a mute) leaves the address
pointing at a version no snapshot sees, so a statement by address matches nothing and the caller looks the
row up by key instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.types import UserDefinedType

__all__ = ["address_column", "at_address", "picked"]


class _Tid(UserDefinedType[Any]):
    cache_ok = True

    def __init__(self, array: bool = False) -> None:
        self.array = array

    def get_col_spec(self, **_kw: Any) -> str:
        return "TID[]" if self.array else "TID"


def _ctid(table: Table) -> ColumnElement[Any]:
    return literal_column(f"{table.name}.ctid")


def address_column(table: Table) -> ColumnElement[str]:
    """The row's address as text, for a RETURNING clause (label "address")."""
    return cast(_ctid(table), String).label("address")


def picked(table: Table, rows: Select[Any]) -> ColumnElement[bool]:
    """The rows `rows` selects (from `table`, FOR UPDATE), as "ctid = ANY(array of their addresses)": a TID
    scan of the rows the inner statement found and locked, where "id = ANY(ids)" read each again through
    the primary key and "id IN (subquery)" was planned as a whole-table scan whenever the table was small."""
    addresses = select(func.array_agg(rows.with_only_columns(_ctid(table).label("ctid")).subquery().c.ctid))
    return any_(cast(addresses.scalar_subquery(), _Tid(array=True))) == _ctid(table)  # ANY((array))


def at_address(table: Table, name: str) -> ColumnElement[bool]:
    """The row at the address bound as `name` (text from address_column)."""
    return _ctid(table) == cast(bindparam(name, type_=String()), _Tid())
