"""Long lists in SQL, written once: `in_chunks` cuts a list of values into pieces of at most IN_LIMIT.

Every `column IN (...)` of the product with a list of unbounded length (token ids, names, alert keys), and
every multi-row write fed from such a list, goes through `in_chunks`. One statement then binds at most
IN_LIMIT parameters per list, far below every backend's ceiling (SQLite >= 3.32: 32,766 bound parameters,
older builds 999; PostgreSQL and MariaDB: 65,535), while a thousand-token fleet still costs two round trips.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["IN_LIMIT", "in_chunks"]

T = TypeVar("T")

IN_LIMIT = 500  # values per IN list (or rows per multi-row write): below 999, SQLite's oldest ceiling


def in_chunks(values: Sequence[T], size: int = IN_LIMIT) -> Iterator[Sequence[T]]:
    """Consecutive slices of `values`, each at most `size` long, in order; nothing for an empty list."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(values), size):
        yield values[start : start + size]
