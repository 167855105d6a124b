"""The declarative base of the registry's tables, its constraint names, and the id type of the tall tables.

Its own module so that the tables defined outside models.py (callback_tables, fleet_tables) import it
without importing models.py, which imports them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, MetaData, text
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere 64-bit ids for the tall tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def where_set(column: str) -> dict[str, Any]:
    """A partial index over the rows where `column` is set (PostgreSQL, SQLite; MariaDB indexes all)."""
    return where(f"{column} IS NOT NULL")


def where(condition: str) -> dict[str, Any]:
    """A partial index over the rows where `condition` holds (PostgreSQL, SQLite; MariaDB indexes all)."""
    clause = text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}
