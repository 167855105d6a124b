"""Per-token metric families whose samples are made while they are rendered (SPEC section 6).

Samples are appended by map/zip over the rows turned into columns, not through `add_metric` (which builds
a dict per sample through `zip`), and not kept: see `LazySamples`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_not
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

_ANSWERED = ("valid", "invalid")
_new_sample = tuple.__new__  # Sample(...) goes through a Python-level __new__ with defaults: 2x slower


class Columns:
    """The per-token rows turned into columns (one tuple each), with one {token, app} dict per token."""

    __slots__ = ("labels", "of")

    def __init__(self, rows: Sequence[Any]) -> None:
        self.of: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * _WIDTH
        # Shared by all of a token's samples: the renderers only read label dicts.
        self.labels = [{"token": n, "app": a} for n, a in zip(self.of[_NAME], self.of[_APP], strict=True)]


Maker = Callable[[Columns], Iterator[Sample]]


class LazySamples:
    """A family's samples, made from the columns each time the family is iterated.

    At 10,000 tokens a scrape has ~110,000 samples. Built up front they are 110,000 long-lived tuples,
    and the cyclic garbage collector then costs more than the database read (it scans every new tracked
    object). Made while the renderer walks them, each sample is freed as soon as its line is written.
    Iterating twice (e.g. `get_sample_value`) simply makes them again.
    """

    __slots__ = ("_data", "_make")

    def __init__(self, data: Columns, make: Maker) -> None:
        self._data, self._make = data, make

    def __iter__(self) -> Iterator[Sample]:
        return self._make(self._data)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Column positions in a per-token row (`_PER_TOKEN_COLUMNS` + the state).
(
    _NAME,
    _APP,
    _VALID,
    _EXP,
    _DATA,
    _ISSUED,
    _TYPE,
    _APPLICATION,
    _USER,
    _SCOPES,
    _CHECKED,
    _SUCCESS,
    _RESULT,
    _PLATFORM,
) = range(14)
_WIDTH = 15
_ANSWERED_VALUE = dict.fromkeys(_ANSWERED, 1.0)


def _samples(name: str, labels: Iterable[dict[str, str]], values: Iterable[Any]) -> Iterator[Sample]:
    """Samples built by map/zip: no Python bytecode runs per sample."""
    none = repeat(None)
    return map(_new_sample, repeat(Sample), zip(repeat(name), labels, values, none, none, none))


def _present(name: str, column: int, convert: Callable[[Any], float] | None = None) -> Maker:
    """One sample per token whose column is not NULL."""

    def make(data: Columns) -> Iterator[Sample]:
        values: Iterable[Any] = data.of[column]
        labels: Iterable[dict[str, str]] = data.labels
        if None in values:  # a C-level scan; usually false, and then nothing needs filtering
            keep = list(map(is_not, values, repeat(None)))
            values, labels = compress(values, keep), compress(labels, keep)
        return _samples(name, labels, map(convert, values) if convert else values)

    return make


_INFO_LABELS = ("token", "app", "type", "application", "user_id")


def _text(values: tuple[Any, ...]) -> Sequence[str]:
    """NULL as the empty label value."""
    return [v or "" for v in values] if None in values else values


def _check_success(name: str) -> Maker:
    def make(data: Columns) -> Iterator[Sample]:
        return _samples(name, data.labels, map(_ANSWERED_VALUE.get, data.of[_RESULT], repeat(0.0)))

    return make


def _info(name: str) -> Maker:
    def make(data: Columns) -> Iterator[Sample]:
        of = data.of
        columns = (of[_NAME], of[_APP], _text(of[_TYPE]), _text(of[_APPLICATION]), _text(of[_USER]))
        facts = map(
            dict, map(zip, repeat(_INFO_LABELS), zip(*columns, strict=True))
        )  # dict(zip(keys, values)) in C
        return _samples(name, _with_platform(facts, of[_PLATFORM]), repeat(1.0))

    return make


def _with_platform(
    facts: Iterable[dict[str, str]], platforms: Sequence[str | None]
) -> Iterator[dict[str, str]]:
    """The info series' `platform` label (SPEC 16) for the tokens of Facebook and Instagram apps; a Threads
    token's series has none (it reads as it always did: an absent label is `platform=""`, i.e. threads)."""
    if all(p in (None, "threads") for p in platforms):
        yield from facts
        return
    for labels, platform in zip(facts, platforms, strict=True):
        if platform and platform != "threads":
            labels["platform"] = platform
        yield labels


def _scopes(name: str) -> Maker:
    def make(data: Columns) -> Iterator[Sample]:
        for token, app, text in zip(data.of[_NAME], data.of[_APP], data.of[_SCOPES], strict=True):
            for scope in (text or "").split():
                labels = {"token": token, "app": app, "scope": scope}
                yield _new_sample(Sample, (name, labels, 1.0, None, None, None))

    return make


PER_TOKEN_SERIES: tuple[tuple[str, str, Callable[[str], Maker]], ...] = (
    ("threads_token_valid", "1 if the last answer said the token is valid, else 0.",
     lambda n: _present(n, _VALID, float)),
    ("threads_token_expires_at_timestamp_seconds", "When the token expires (Unix seconds).",
     lambda n: _present(n, _EXP)),
    ("threads_token_data_access_expires_at_timestamp_seconds",
     "When the token's data access expires (Unix seconds).", lambda n: _present(n, _DATA)),
    ("threads_token_issued_at_timestamp_seconds", "When the token was issued (Unix seconds).",
     lambda n: _present(n, _ISSUED)),
    ("threads_token_info", "Facts about the token from its last answer.", _info),
    ("threads_token_scope_granted", "1 per permission granted to the token.", _scopes),
    ("threads_token_last_check_timestamp_seconds", "When the token was last checked (Unix seconds).",
     lambda n: _present(n, _CHECKED)),
    ("threads_token_last_success_timestamp_seconds", "When a check last got an answer (Unix seconds).",
     lambda n: _present(n, _SUCCESS)),
    ("threads_token_check_success", "1 if the last check got an answer from the API, else 0.",
     _check_success),
)  # fmt: skip


def token_families(rows: Sequence[Any], *, scopes: bool) -> list[Metric]:
    """The per-token families for the given rows (`per_token_query`'s columns)."""
    data = Columns(rows)
    families: list[Metric] = []
    for name, doc, maker in PER_TOKEN_SERIES:
        if name == "threads_token_scope_granted" and not scopes:
            continue
        family = GaugeMetricFamily(name, doc)
        family.samples = LazySamples(data, maker(name))  # type: ignore[assignment]
        families.append(family)
    return families
