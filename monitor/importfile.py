"""Parsing `tokens import` files: CSV (header name,app,token[,label...]) or JSON Lines. All or nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, count
from pathlib import Path
from typing import BinaryIO

from monitor.registry import NewToken, RegistryError, check_labels, check_name, check_token_string


class ImportFileError(Exception):
    """The import file is malformed; `line` is 1-based (the header of a CSV is line 1)."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}: line {line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.line = line


MAX_LINE = 65536  # bytes: a token line is a few hundred; anything near this is not one


def read_import_file(path: Path, tick: Callable[[int], None] | None = None) -> list[NewToken]:
    """Every row of the file, validated; raise ImportFileError naming the first bad line.

    The file is read a line at a time, each of at most MAX_LINE bytes: a file that never ends a line
    (/dev/zero, a binary file) is refused at its first line, not read whole. `tick(1)` is called for each
    line read (the import's progress bar)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFileError(path, None, f"cannot read the file: {exc.strerror}") from None
    with handle:
        lines, blank = _lines(path, handle), []
        first = next(lines, "")
        while first and not first.strip():  # the format shows in the first line with something on it
            blank.append(first)
            first = next(lines, "")
        parse = _parse_jsonl if first.lstrip()[:1] == "{" else _parse_csv
        rows = parse(path, chain(blank, [first] if first else [], lines), tick)
    if not rows:
        raise ImportFileError(path, None, "the file holds no tokens")
    seen: dict[str, int] = {}
    for line, row in rows:
        if row.name in seen:
            raise ImportFileError(
                path, line, f"token name {row.name!r} already appears on line {seen[row.name]}"
            )
        seen[row.name] = line
    return [row for _, row in rows]


def _lines(path: Path, handle: BinaryIO) -> Iterator[str]:
    """The file's lines as text (line endings kept, a UTF-8 BOM dropped), each checked as it is read."""
    for number in count(1):
        try:
            raw = handle.readline(MAX_LINE + 1)
        except OSError as exc:
            raise ImportFileError(path, None, f"cannot read the file: {exc.strerror}") from None
        if not raw:
            return
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise ImportFileError(path, number, f"the line is longer than {MAX_LINE} bytes")
        if b"\0" in raw:
            raise ImportFileError(path, number, "the line holds a NUL byte (is this a binary file?)")
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ImportFileError(path, number, "the file is not UTF-8 text") from None


def _new_token(
    path: Path, line: int, name: object, app: object, token: object, labels: dict, auto: bool
) -> NewToken:
    try:
        if not isinstance(name, str) or not isinstance(app, str):
            raise RegistryError("name and app must be strings")
        if not isinstance(token, str):
            raise RegistryError("token must be a string")
        return NewToken(
            name=check_name(name.strip(), "token name"),
            app=app.strip(),
            token=check_token_string(token),
            labels=check_labels(labels),
            auto_refresh=auto,
        )
    except RegistryError as exc:
        raise ImportFileError(path, line, str(exc)) from None


def _parse_csv(
    path: Path, lines: Iterable[str], tick: Callable[[int], None] | None
) -> list[tuple[int, NewToken]]:
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ImportFileError(path, 1, f"malformed CSV: {exc}") from None
    missing = [c for c in ("name", "app", "token") if c not in header]
    if missing:
        raise ImportFileError(
            path, 1, f"the header lacks column(s) {', '.join(missing)} (need name,app,token)"
        )
    if len(set(header)) != len(header):
        raise ImportFileError(path, 1, "the header names a column twice")
    extra = [h for h in header if h not in ("name", "app", "token", "auto_refresh")]
    rows: list[tuple[int, NewToken]] = []
    try:
        for values in reader:
            line = reader.line_num
            if tick is not None:
                tick(1)
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise ImportFileError(path, line, f"expected {len(header)} fields, found {len(values)}")
            rec = dict(zip(header, values, strict=True))
            auto = _parse_bool(path, line, rec.get("auto_refresh", ""))
            labels = {k: rec[k].strip() for k in extra if rec[k].strip()}
            rows.append((line, _new_token(path, line, rec["name"], rec["app"], rec["token"], labels, auto)))
    except csv.Error as exc:
        raise ImportFileError(path, reader.line_num, f"malformed CSV: {exc}") from None
    return rows


def _parse_bool(path: Path, line: int, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise ImportFileError(path, line, f"auto_refresh must be true or false, not {value!r}")


def _parse_jsonl(
    path: Path, lines: Iterable[str], tick: Callable[[int], None] | None
) -> list[tuple[int, NewToken]]:
    rows: list[tuple[int, NewToken]] = []
    allowed = {"name", "app", "token", "labels", "auto_refresh"}
    for line, raw in enumerate(lines, start=1):
        if tick is not None:
            tick(1)
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ImportFileError(path, line, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:  # [[[[...]]]]: a parser's stack is no place for a traceback
            raise ImportFileError(path, line, "the JSON is nested too deeply") from None
        if not isinstance(rec, dict):
            raise ImportFileError(path, line, "each line must be a JSON object")
        unknown = sorted(set(rec) - allowed)
        if unknown:
            raise ImportFileError(path, line, f"unknown field(s): {', '.join(unknown)}")
        labels = rec.get("labels", {})
        if not isinstance(labels, dict):
            raise ImportFileError(path, line, "labels must be an object of strings")
        auto = _parse_bool(path, line, rec.get("auto_refresh", False))
        rows.append(
            (line, _new_token(path, line, rec.get("name"), rec.get("app"), rec.get("token"), labels, auto))
        )
    return rows
