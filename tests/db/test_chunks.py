"""monitor.db.chunks: one way to cut a long list for IN (...) and multi-row writes, with one limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.db.chunks import IN_LIMIT, in_chunks


def test_the_limit_is_below_sqlites_oldest_parameter_ceiling() -> None:
    assert IN_LIMIT == 500 and IN_LIMIT < 999


@given(values=st.lists(st.integers()), size=st.integers(1, 50))
def test_chunks_are_in_order_cover_everything_and_respect_the_size(values: list[int], size: int) -> None:
    parts = list(in_chunks(values, size))
    assert [v for part in parts for v in part] == values
    assert all(1 <= len(part) <= size for part in parts)
    assert len(parts) == -(-len(values) // size)


def test_default_size_and_empty_input() -> None:
    assert [len(p) for p in in_chunks(list(range(1201)))] == [500, 500, 201]
    assert list(in_chunks([])) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(in_chunks([1], 0))
