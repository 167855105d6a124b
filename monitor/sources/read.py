"""Reading a `[[sources]]` query from the application's own database: engines, the query, validation.

The source database is only read here: the query runs in a transaction that is always rolled back (and is
declared READ ONLY on PostgreSQL), under a statement timeout where the backend has one. Every row is
validated before the monitor's database is touched, and every message is safe to log: it never carries the
source URL (which may hold a password) nor a token string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Result, text

from monitor.config.load import SourceConfig
from monitor.registry import (
    LABEL_RE,
    MAX_TOKEN_LENGTH,
    NAME_RE,
    RESERVED_LABELS,
    RegistryError,
    check_token_string,
    looks_like_token,
)
from monitor.sources.engines import SourceError as SourceError
from monitor.sources.engines import safe_reason

FETCH_BATCH = 1000
MAX_LABEL_VALUE = 200
REQUIRED = ("name", "token")
_BAD_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")  # what check_token_string refuses inside a token


@dataclass(frozen=True)
class SourceRow:
    """One validated row of a source query."""

    name: str
    app: str
    token: str = field(repr=False)
    labels: Mapping[str, str]


# --- the query -------------------------------------------------------------------------------------------


def read_rows(engine: Engine, source: SourceConfig) -> list[SourceRow]:
    """Run the source query read only and return its validated rows; SourceError if anything is wrong.

    The query runs as a derived table (`SELECT * FROM (query) AS source_rows`), so it can only ever be one
    SELECT: `COMMIT; DELETE ...; SELECT ...` is a syntax error there instead of three statements. The
    transaction is read only where the database has that, rows are fetched in batches, and a query that
    returns more than `max_rows` rows is refused before all of them are held in memory."""
    try:
        with engine.connect() as conn:  # one transaction, begun by the first statement, never committed
            try:
                _read_only(conn)
                rows = _fetch(conn, source)
            finally:
                conn.rollback()
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(source.name, f"the query failed: {safe_reason(exc, source)}") from None
    return rows


def _read_only(conn: Connection) -> None:
    """Make this transaction read only (its first statement on PostgreSQL; before it starts on MySQL and
    MariaDB) or the connection (SQLite, whose NullPool connection is never reused)."""
    statement = {
        "postgresql": "SET TRANSACTION READ ONLY",
        "mysql": "SET TRANSACTION READ ONLY",
        "mariadb": "SET TRANSACTION READ ONLY",
        "sqlite": "PRAGMA query_only = ON",
    }.get(conn.dialect.name)
    if statement is not None:
        conn.exec_driver_sql(statement)


def _fetch(conn: Connection, source: SourceConfig) -> list[SourceRow]:
    query = source.query.strip().rstrip(";").strip()
    result = conn.execution_options(stream_results=True, max_row_buffer=FETCH_BATCH).execute(
        text(f"SELECT * FROM ({query}) AS source_rows")
    )
    columns = [str(c).lower() for c in result.keys()]  # noqa: SIM118 - a Result is not a dict
    _column_index(source, columns)  # a missing column fails before any row is fetched
    return validate_rows(source, columns, _capped(result, source))


def _capped(result: Result[Any], source: SourceConfig) -> Iterator[Sequence[Any]]:
    count = 0
    for batch in result.partitions(FETCH_BATCH):
        count += len(batch)
        if count > source.max_rows:
            raise SourceError(source.name, f"the query returns more than max_rows ({source.max_rows}) rows")
        yield from batch


@dataclass(frozen=True)
class _Columns:
    name: int
    token: int
    app: int | None
    labels: tuple[tuple[str, int], ...]


def _column_index(source: SourceConfig, columns: Sequence[str]) -> _Columns:
    fail = source.name
    columns = [c.lower() for c in columns]  # Oracle and some MySQL setups answer in upper case
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise SourceError(fail, f"the query returns column {dupes[0]!r} more than once")
    for required in REQUIRED:
        if required not in columns:
            raise SourceError(
                fail, f"the query returns no {required!r} column (columns: {', '.join(columns)})"
            )
    if source.app is None and "app" not in columns:
        raise SourceError(fail, "the query returns no 'app' column and the source sets no app")
    if source.app is not None and "app" in columns:
        raise SourceError(fail, "the source sets app and the query returns an 'app' column: keep one")
    labels = []
    for index, column in enumerate(columns):
        if column in (*REQUIRED, "app"):
            continue
        if not LABEL_RE.match(column) or column in RESERVED_LABELS:
            raise SourceError(
                fail, f"column {column!r} cannot be a label (reserved, or not letters, digits, _)"
            )
        labels.append((column, index))
    app = columns.index("app") if "app" in columns else None
    return _Columns(columns.index("name"), columns.index("token"), app, tuple(labels))


def validate_rows(
    source: SourceConfig, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[SourceRow]:
    """Validate every row (names unique and valid, token strings valid, labels); the first problem raises.

    Rows are named by their number, never by a value: with the query's columns swapped, a "name" is a
    token string, and the message goes to the log, `sources.last_error` and the SourceFailing alert."""
    cols = _column_index(source, columns)
    out: list[SourceRow] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, 1):
        name = _name(source, row[cols.name], number)
        if name in seen:
            raise SourceError(
                source.name, f"rows {seen[name]} and {number} have the same name: names must be unique"
            )
        seen[name] = number
        token = _token(source, row[cols.token], number)
        app = source.app if cols.app is None else _app(source, row[cols.app], number)
        out.append(SourceRow(name, app or "", token, _labels(source, cols, row, number)))
    return out


def _labels(source: SourceConfig, cols: _Columns, row: Sequence[Any], number: int) -> dict[str, str]:
    labels: dict[str, str] = {}
    for column, index in cols.labels:
        value = row[index]
        if value is None:
            continue
        labels[column] = value if isinstance(value, str) else str(value)
        if len(labels[column]) > MAX_LABEL_VALUE:
            raise SourceError(
                source.name, f"row {number}: {column!r} is longer than {MAX_LABEL_VALUE} characters"
            )
        if looks_like_token(labels[column]):
            raise SourceError(
                source.name, f"row {number}: {column!r} looks like an access token: not a label"
            )
    return labels


def _name(source: SourceConfig, value: Any, number: int) -> str:
    if value is None:
        raise SourceError(source.name, f"row {number} has no name (NULL)")
    name = value.strip() if isinstance(value, str) else str(value)
    if looks_like_token(name):
        raise SourceError(
            source.name,
            f"row {number}: the name looks like an access token: refused, so that it never becomes a label "
            "or shows in output (are the name and token columns swapped?)",
        )
    if not NAME_RE.fullmatch(name):
        raise SourceError(
            source.name,
            f"row {number}: the name is not valid: use 1-200 letters, digits and . _ : @ / + - (starting "
            "with a letter or digit)",
        )
    return name


def _token(source: SourceConfig, value: Any, number: int) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(source.name, f"row {number}: the token is not UTF-8 text") from None
    if not isinstance(value, str):
        kind = "NULL" if value is None else "not text (are the name and token columns swapped?)"
        raise SourceError(source.name, f"row {number}: the token is {kind}")
    token = value.strip()
    if token and len(token) <= MAX_TOKEN_LENGTH and not _BAD_CHARACTER.search(token) and not token.isdigit():
        return token  # the fast path for the common case: the same rules as check_token_string, in C
    try:
        return check_token_string(value)
    except RegistryError as exc:  # its message describes the problem, never the string
        raise SourceError(source.name, f"row {number}: {exc}") from None


def _app(source: SourceConfig, value: Any, number: int) -> str:
    if value is None or not str(value).strip():
        raise SourceError(source.name, f"row {number} has no app")
    return str(value).strip()
