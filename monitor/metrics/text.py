"""The per-token families written straight to exposition text, for the cached /metrics render.

prometheus_client builds a Sample and formats it through several Python calls per line; here each token's
label set is escaped once and every line is one f-string, which is what lets a scrape after a change cost
about what rendering ready-made families costs. The lines are the ones `generate_latest` writes for the
same families (text format and OpenMetrics agree on gauge lines), which tests/metrics hold them to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.utils import floatToGoString

from monitor.metrics.series import (
    _APP,
    _APPLICATION,
    _CHECKED,
    _DATA,
    _EXP,
    _ISSUED,
    _NAME,
    _RESULT,
    _SCOPES,
    _SUCCESS,
    _TYPE,
    _USER,
    _VALID,
    PER_TOKEN_SERIES,
)

__all__ = ["per_token_text"]

_ANSWERED = ("valid", "invalid")
Lines = Callable[[str, Sequence[Any], Sequence[tuple[str, str]]], Iterator[str]]  # labels: (app, token)


def escape(value: object) -> str:
    """A label value as both formats write it (backslash, newline and double quote escaped)."""
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(doc: str, openmetrics: bool) -> str:
    text = doc.replace("\\", r"\\").replace("\n", r"\n")
    return text.replace('"', r"\"") if openmetrics else text


def _present(column: int, convert: Callable[[Any], float] = float) -> Lines:
    def lines(name: str, rows: Sequence[Any], labels: Sequence[tuple[str, str]]) -> Iterator[str]:
        for row, (app, token) in zip(rows, labels, strict=True):
            if row[column] is not None:
                yield f'{name}{{app="{app}",token="{token}"}} {floatToGoString(convert(row[column]))}\n'

    return lines


def _info(name: str, rows: Sequence[Any], labels: Sequence[tuple[str, str]]) -> Iterator[str]:
    # Label names in sorted order, as prometheus_client writes them.
    for row, (app, token) in zip(rows, labels, strict=True):
        kind, application, user = (escape(row[c] or "") for c in (_TYPE, _APPLICATION, _USER))
        yield (
            f'{name}{{app="{app}",application="{application}",token="{token}",type="{kind}",'
            f'user_id="{user}"}} 1.0\n'
        )


def _scopes(name: str, rows: Sequence[Any], labels: Sequence[tuple[str, str]]) -> Iterator[str]:
    for row, (app, token) in zip(rows, labels, strict=True):
        for scope in (row[_SCOPES] or "").split():
            yield f'{name}{{app="{app}",scope="{escape(scope)}",token="{token}"}} 1.0\n'


def _check_success(name: str, rows: Sequence[Any], labels: Sequence[tuple[str, str]]) -> Iterator[str]:
    for row, (app, token) in zip(rows, labels, strict=True):
        yield f'{name}{{app="{app}",token="{token}"}} {"1.0" if row[_RESULT] in _ANSWERED else "0.0"}\n'


LINES: dict[str, Lines] = {
    "threads_token_valid": _present(_VALID),
    "threads_token_expires_at_timestamp_seconds": _present(_EXP),
    "threads_token_data_access_expires_at_timestamp_seconds": _present(_DATA),
    "threads_token_issued_at_timestamp_seconds": _present(_ISSUED),
    "threads_token_info": _info,
    "threads_token_scope_granted": _scopes,
    "threads_token_last_check_timestamp_seconds": _present(_CHECKED),
    "threads_token_last_success_timestamp_seconds": _present(_SUCCESS),
    "threads_token_check_success": _check_success,
}


def per_token_text(rows: Sequence[Any], *, scopes: bool, openmetrics: bool = False) -> str:
    """Every per-token family (HELP, TYPE, then one line per sample) for `per_token_query` rows."""
    labels = [(escape(r[_APP]), escape(r[_NAME])) for r in rows]
    out: list[str] = []
    for name, doc, _ in PER_TOKEN_SERIES:
        if name == "threads_token_scope_granted" and not scopes:
            continue
        out.append(f"# HELP {name} {_help(doc, openmetrics)}\n# TYPE {name} gauge\n")
        out.extend(LINES[name](name, rows, labels))
    return "".join(out)
