"""Parsing `tokens import` files: CSV (header name,app,token[,label...]) or JSON Lines, from a file or `-`
(standard input). Every bad line is reported at once, each by its number; nothing is written here.

A row is the token as the file wants it (monitor.registry.TokenWrite): with `--replace` an existing token
takes its string and labels. What a file does not say (no label columns, no `auto_refresh` column or key)
keeps what an existing token has.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, count
from pathlib import Path
from typing import Any, BinaryIO

from monitor.registry.names import RegistryError, check_labels, check_name, check_token_string
from monitor.registry.tokens import NewToken
from monitor.registry.writes import TokenWrite

STDIN = "-"
MAX_LINE = 65536  # bytes: a token line is a few hundred; anything near this is not one

Problem = tuple[int | None, str]  # (1-based line, None: the whole file; message)
Row = tuple[int, TokenWrite]  # (line, the token it asks for)


class ImportFileError(Exception):
    """The import file is malformed: `problems` holds every bad line (the header of a CSV is line 1),
    `line` the first one's number."""

    def __init__(self, where: str | Path, problems: Sequence[Problem]) -> None:
        self.where, self.problems = str(where), list(problems)
        self.line = self.problems[0][0] if self.problems else None
        lines = [f"{self.where}: line {n}: {m}" if n else f"{self.where}: {m}" for n, m in self.problems]
        if len(self.problems) > 1:
            lines.append(f"{self.where}: {len(self.problems)} problems; nothing was imported")
        super().__init__("\n".join(lines))


def label_of(source: str | Path) -> str:
    """How messages name the input: the path, or <stdin>."""
    return "<stdin>" if str(source) == STDIN else str(source)


class _Unreadable(Exception):
    """The input cannot be read on from this line (too long, binary, not UTF-8): nothing after it is."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _open(source: str | Path) -> tuple[BinaryIO, bool]:
    """The input as bytes, and whether it is ours to close (standard input is not)."""
    if str(source) == STDIN:
        stdin = sys.stdin
        if hasattr(stdin, "buffer"):
            return stdin.buffer, False
        return io.BytesIO(stdin.read().encode("utf-8")), True  # a text stream put in place of stdin
    try:
        return Path(source).open("rb"), True
    except OSError as exc:
        raise ImportFileError(label_of(source), [(None, f"cannot read the file: {exc.strerror}")]) from None


def _lines(handle: BinaryIO) -> Iterator[str]:
    """The input's lines as text (line endings kept, a UTF-8 BOM dropped), each checked as it is read: at
    most MAX_LINE bytes, so input that never ends a line (/dev/zero, a binary file) is refused at its first
    line instead of being read whole."""
    for number in count(1):
        try:
            raw = handle.readline(MAX_LINE + 1)
        except OSError as exc:
            raise _Unreadable(None, f"cannot read the file: {exc.strerror}") from None
        if not raw:
            return
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise _Unreadable(number, f"the line is longer than {MAX_LINE} bytes")
        if b"\0" in raw:
            raise _Unreadable(number, "the line holds a NUL byte (is this a binary file?)")
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise _Unreadable(number, "the file is not UTF-8 text") from None


def parse_import(
    source: str | Path, tick: Callable[[int], None] | None = None
) -> tuple[list[Row], list[Problem]]:
    """The good rows of the input with their line numbers, and a problem for every bad line (a file that
    cannot be opened raises ImportFileError). The input is read a line at a time; a line that cannot be
    read on from ends the reading with its problem. `tick(1)` is called for each line read."""
    handle, ours = _open(source)
    rows: list[Row] = []
    problems: list[Problem] = []
    try:
        lines, blank = _lines(handle), []
        first = next(lines, "")
        while first and not first.strip():  # the format shows in the first line with something on it
            blank.append(first)
            first = next(lines, "")
        parse = _parse_jsonl if first.lstrip()[:1] == "{" else _parse_csv
        parse(chain(blank, [first] if first else [], lines), tick, rows, problems)
    except _Unreadable as exc:
        problems.append((exc.line, exc.message))
    finally:
        if ours:
            handle.close()
    seen: dict[str, int] = {}
    good: list[Row] = []
    for line, row in rows:
        if row.name in seen:
            problems.append((line, f"token name {row.name!r} already appears on line {seen[row.name]}"))
        else:
            seen[row.name] = line
            good.append((line, row))
    if not rows and not problems:
        problems.append((None, "the file holds no tokens"))
    return good, problems


def read_import(source: str | Path, tick: Callable[[int], None] | None = None) -> list[Row]:
    """Every row of the input with its line number; ImportFileError listing every bad line."""
    rows, problems = parse_import(source, tick)
    if problems:
        raise ImportFileError(label_of(source), sorted(problems, key=lambda p: p[0] or 0))
    return rows


def read_import_file(path: str | Path, tick: Callable[[int], None] | None = None) -> list[NewToken]:
    """The rows of `path` as new tokens (no labels or auto_refresh said: none, off)."""
    return [
        NewToken(w.name, w.app or "", w.token or "", dict(w.labels or {}), bool(w.auto_refresh))
        for _, w in read_import(path, tick)
    ]


def _write(name: Any, app: Any, token: Any, labels: Any, auto: bool | None) -> TokenWrite:
    """One validated row (RegistryError says why not, never repeating the token)."""
    if not isinstance(name, str) or not isinstance(app, str):
        raise RegistryError("name and app must be strings")
    if not isinstance(token, str):
        raise RegistryError("token must be a string")
    return TokenWrite(
        name=check_name(name.strip(), "token name"),
        app=app.strip(),
        token=check_token_string(token),
        labels=None if labels is None else check_labels(labels),
        auto_refresh=auto,
    )


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise RegistryError(f"auto_refresh must be true or false, not {value!r}")


def _header(reader: Any) -> list[str] | None:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return None
    except csv.Error as exc:
        raise RegistryError(f"malformed CSV: {exc}") from None
    missing = [c for c in ("name", "app", "token") if c not in header]
    if missing:
        raise RegistryError(f"the header lacks column(s) {', '.join(missing)} (need name,app,token)")
    if len(set(header)) != len(header):
        raise RegistryError("the header names a column twice")
    return header


def _parse_csv(
    lines: Iterable[str], tick: Callable[[int], None] | None, rows: list[Row], problems: list[Problem]
) -> None:
    reader = csv.reader(lines)
    try:
        header = _header(reader)
    except RegistryError as exc:  # without a header no row can be read
        problems.append((1, str(exc)))
        return
    if header is None:
        return
    extra = [h for h in header if h not in ("name", "app", "token", "auto_refresh")]
    try:
        for values in reader:
            line = reader.line_num
            if tick is not None:
                tick(1)
            if not any(v.strip() for v in values):
                continue
            try:
                if len(values) != len(header):
                    raise RegistryError(f"expected {len(header)} fields, found {len(values)}")
                rec = dict(zip(header, values, strict=True))
                auto = _parse_bool(rec["auto_refresh"]) if "auto_refresh" in rec else None
                labels = {k: rec[k].strip() for k in extra if rec[k].strip()} if extra else None
                rows.append((line, _write(rec["name"], rec["app"], rec["token"], labels, auto)))
            except RegistryError as exc:
                problems.append((line, str(exc)))
    except csv.Error as exc:  # the reader cannot go on past this: report it with what came before
        problems.append((reader.line_num, f"malformed CSV: {exc}"))


_ALLOWED = frozenset({"name", "app", "token", "labels", "auto_refresh"})


def _parse_jsonl(
    lines: Iterable[str], tick: Callable[[int], None] | None, rows: list[Row], problems: list[Problem]
) -> None:
    for line, raw in enumerate(lines, start=1):
        if tick is not None:
            tick(1)
        if not raw.strip():
            continue
        try:
            rows.append((line, _json_row(raw)))
        except RegistryError as exc:
            problems.append((line, str(exc)))


def _json_row(raw: str) -> TokenWrite:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # [[[[...]]]]: a parser's stack is no place for a traceback
        raise RegistryError("the JSON is nested too deeply") from None
    if not isinstance(rec, dict):
        raise RegistryError("each line must be a JSON object")
    unknown = sorted(set(rec) - _ALLOWED)
    if unknown:
        raise RegistryError(f"unknown field(s): {', '.join(unknown)}")
    labels = rec.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise RegistryError("labels must be an object of strings")
    auto = _parse_bool(rec["auto_refresh"]) if "auto_refresh" in rec else None
    return _write(rec.get("name"), rec.get("app"), rec.get("token"), labels, auto)
