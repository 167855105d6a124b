"""Value parsers for config.py: durations, numbers, strings, URLs, paths, e-mail addresses.

A parser takes `(value, ctx)` and returns the parsed value or raises `ValueError(message)`; the caller
prefixes the message with the key path. Messages may show the offending value, so secret values are only
handed to parsers whose messages do not (see config_schema's secret handling).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from monitor.config.files import TooLarge as TooLarge
from monitor.config.files import read_bounded as read_bounded
from monitor.config.frozen import FrozenMap as FrozenMap

Parser = Callable[[Any, "ParseContext"], Any]
P = TypeVar("P", bound=Callable[..., Any])
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])")
# What parse_duration reads as a string, as a JSON Schema pattern (tests/config/test_schema.py compares).
DURATION_PATTERN = r"^\s*(\d+|(\s*\d+(\.\d+)?\s*[smhd])+)\s*$"
NONEMPTY = {"type": "string", "pattern": r"\S"}  # string(): not empty, not only whitespace
SCHEMA_ATTRIBUTE = "json_schema"


def accepts(fragment: Mapping[str, Any]) -> Callable[[P], P]:
    """Attach to a parser the JSON Schema of the TOML values it accepts (config/schema.py reads it).

    Written next to the parser so the two cannot drift apart: every parser in a key table needs one."""

    def attach(parse: P) -> P:
        setattr(parse, SCHEMA_ATTRIBUTE, dict(fragment))
        return parse

    return attach


def schema_of(parse: Parser) -> dict[str, Any]:
    """A copy of the JSON Schema fragment `accepts` attached to `parse`; LookupError when there is none."""
    fragment = getattr(parse, SCHEMA_ATTRIBUTE, None)
    if fragment is None:
        name = getattr(parse, "__qualname__", repr(parse))
        raise LookupError(f"parser {name} has no JSON Schema: decorate it with @accepts({{...}})")
    return copy.deepcopy(fragment)


@dataclass
class ParseContext:
    """What parsers need besides the value: the environment, where relative paths point, the problem list."""

    env: Mapping[str, str]
    config_dir: Path
    problems: list[str] = field(default_factory=list)

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}" if key else message)

    def resolve_path(self, value: str) -> Path:
        """Absolute paths stay; relative ones go under $CREDENTIALS_DIRECTORY, else the config's dir."""
        path = Path(value).expanduser()
        if path.is_absolute():
            return path
        base = self.env.get("CREDENTIALS_DIRECTORY") or str(self.config_dir)
        return Path(base) / path


def split_host_port(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" or "[IPV6]:PORT" -> (host, port); ValueError when malformed."""
    host, sep, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""  # an unbracketed IPv6 address: where the port starts is a guess
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'expected "HOST:PORT" or "[IPV6]:PORT" with a port 0-65535, got {describe(listen)}')
    return host, int(port)


# ---------------------------------------------------------------------------------------------- durations


def parse_duration(value: str | int | float) -> float:
    """Seconds from "30s", "5m", "6h", "7d", compounds like "1h30m", or a plain number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'expected a duration like "30s" or integer seconds, got {describe(value)}')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    text = value.strip()
    if text.isdigit():
        return float(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"invalid duration {describe(value)}: use a number with a unit s, m, h or d "
            '(e.g. "30s", "5m", "6h", "7d", "1h30m") or an integer number of seconds'
        )
    return total


def format_duration(seconds: float) -> str:
    """The compact form parse_duration reads: 90061 -> "1d1h1m1s"."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, parts = int(seconds), []
    for unit in ("d", "h", "m", "s"):
        count, rest = divmod(rest, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# ---------------------------------------------------------------------------------------------- parsers


def describe(value: Any) -> str:
    """A short rendering of a (non-secret) TOML value for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, int | float):
        return str(value)
    return kind_of(value)


def kind_of(value: Any) -> str:
    """The TOML kind of a value ("a string", "an array", ...), never the value itself."""
    kinds = (
        (bool, "a boolean"),
        (str, "a string"),
        (int | float, "a number"),
        (list, "an array"),
        (dict, "a table"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date/time")


def integer(low: int, high: int) -> Parser:
    @accepts({"type": "integer", "minimum": low, "maximum": high})
    def parse(value: Any, ctx: ParseContext) -> int:
        # bool is a subclass of int: `concurrency = true` must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {describe(value)}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def number(low: float, high: float) -> Parser:
    @accepts({"type": "number", "minimum": low, "maximum": high})
    def parse(value: Any, ctx: ParseContext) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {describe(value)}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {value:g}")
        return float(value)

    return parse


def duration(low: float = 0.0, high: float | None = None) -> Parser:
    seconds_form = {"type": "number", "minimum": low} | ({} if high is None else {"maximum": high})
    text_form = {"type": "string", "pattern": DURATION_PATTERN}
    least, most = format_duration(low), format_duration(high) if high is not None else ""
    limits = f" ({least}..{most})" if most else f" (at least {least})" if low else ""
    described = f'a duration: "30s", "5m", "6h", "7d", "1h30m" or a number of seconds{limits}'

    @accepts({"anyOf": [text_form, seconds_form], "description": described})
    def parse(value: Any, ctx: ParseContext) -> float:
        seconds = parse_duration(value)
        if seconds < low:
            raise ValueError(f"must be at least {format_duration(low)}, got {format_duration(seconds)}")
        if high is not None and seconds > high:
            raise ValueError(f"must be at most {format_duration(high)}, got {format_duration(seconds)}")
        return seconds

    return parse


@accepts({"type": "boolean"})
def boolean(value: Any, ctx: ParseContext) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {describe(value)}")
    return value


def string(*, choices: tuple[str, ...] = (), nonempty: bool = True) -> Parser:
    schema = (
        {"type": "string", "enum": list(choices)} if choices else NONEMPTY if nonempty else {"type": "string"}
    )

    @accepts(schema)
    def parse(value: Any, ctx: ParseContext) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {describe(value)}")
        if choices and value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {describe(value)}")
        if nonempty and not value.strip():
            raise ValueError("must not be empty")
        return value

    return parse


@accepts({"type": "string", "pattern": "^https?://"})
def http_url(value: Any, ctx: ParseContext) -> str:
    """An http(s) URL. Used for secret URLs too, so the message never echoes the value."""
    string()(value, ctx)
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return str(value).rstrip("/")


@accepts({"anyOf": [{"const": ""}, schema_of(http_url)]})
def optional_http_url(value: Any, ctx: ParseContext) -> str:
    return "" if value == "" else http_url(value, ctx)


@accepts({"type": "string", "pattern": "://", "description": "a SQLAlchemy database URL"})
def sqlalchemy_url(value: Any, ctx: ParseContext) -> str:
    string()(value, ctx)
    if "://" not in value:
        raise ValueError(
            "must be a SQLAlchemy URL such as sqlite:////path/file.sqlite3 or postgresql+psycopg://..."
        )
    try:
        port = urlsplit(value).port  # a port that is not a number fails here, not at the first connect
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        # Not repeated: the URL may carry a password.
        raise ValueError("is not a valid SQLAlchemy URL (is the port a number from 1 to 65535?)")
    return str(value)


@accepts(NONEMPTY | {"description": "a file path"})
def path(value: Any, ctx: ParseContext) -> Path:
    return ctx.resolve_path(string()(value, ctx))


@accepts(NONEMPTY | {"description": "the path of an existing file"})
def existing_file(value: Any, ctx: ParseContext) -> Path:
    resolved = path(value, ctx)
    if not resolved.is_file():
        raise ValueError(f"no such file: {resolved}")
    return resolved


@accepts({"type": "string", "pattern": "@"})
def email_address(value: Any, ctx: ParseContext) -> str:
    string()(value, ctx)
    if "@" not in value:
        raise ValueError(f"expected an email address, got {describe(value)}")
    return str(value)


@accepts({"type": "array", "minItems": 1, "items": schema_of(email_address)})
def email_list(value: Any, ctx: ParseContext) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty array of email addresses, got {describe(value)}")
    return tuple(email_address(item, ctx) for item in value)


@accepts({"type": "object", "additionalProperties": {"type": "string"}})
def string_table(value: Any, ctx: ParseContext) -> FrozenMap:
    if not isinstance(value, dict):
        raise ValueError(f'expected a table of strings like {{ team = "growth" }}, got {describe(value)}')
    bad = [key for key, item in value.items() if not isinstance(item, str)]
    if bad:
        raise ValueError(f"values must be strings (check {', '.join(bad)})")
    return FrozenMap(value)
