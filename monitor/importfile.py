"""Parsing `tokens import` files: CSV (header name,app,token[,label...]) or JSON Lines. All or nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from monitor.registry import NewToken, RegistryError, check_labels, check_name, check_token_string


class ImportFileError(Exception):
    """The import file is malformed; `line` is 1-based (the header of a CSV is line 1)."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}: line {line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.line = line


MAX_LINE = 65536  # a token line is a few hundred characters; anything near this is not one


def read_import_file(path: Path, tick: Callable[[int], None] | None = None) -> list[NewToken]:
    """Every row of the file, validated; raise ImportFileError naming the first bad line.

    `tick(1)` is called for each line read (the import's progress bar)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ImportFileError(path, None, f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ImportFileError(path, None, "the file is not UTF-8 text") from None
    first = text.lstrip()[:1]
    rows = _parse_jsonl(path, text, tick) if first == "{" else _parse_csv(path, text, tick)
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


def _parse_csv(path: Path, text: str, tick: Callable[[int], None] | None) -> list[tuple[int, NewToken]]:
    reader = csv.reader(io.StringIO(text, newline=""))
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


def _parse_jsonl(path: Path, text: str, tick: Callable[[int], None] | None) -> list[tuple[int, NewToken]]:
    rows: list[tuple[int, NewToken]] = []
    allowed = {"name", "app", "token", "labels", "auto_refresh"}
    for line, raw in enumerate(text.splitlines(), start=1):
        if tick is not None:
            tick(1)
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE:
            raise ImportFileError(path, line, f"the line is longer than {MAX_LINE} characters")
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
