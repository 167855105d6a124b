"""Table validation for config.py: accepted keys, secret indirection, unknown keys, problem collection.

Nothing here stops at the first problem: every problem is appended to `ParseContext.problems`, so the
user sees all of them at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.config.values import ParseContext, Parser, TooLarge, describe, kind_of, read_bounded
from monitor.redact import redact

SECRET_SUFFIXES = ("", "_file", "_env")
MAX_SECRET_FILE = 64 * 1024  # a secret (or a list of Apprise URLs) is far smaller


@dataclass(frozen=True)
class Field:
    """One accepted key. Absent and not required: `default` if given, else the dataclass default applies."""

    parse: Parser
    required: bool = False
    default: Any = None
    has_default: bool = False
    secret: bool = False  # also accepted as KEY_file / KEY_env; the value never appears in a message
    many: bool = False  # a secret list: KEY may also be an array of strings, read as one value a line
    children: Mapping[str, Field] | None = None  # a sub-table: `parse` receives the dict of parsed children

    def keys(self, name: str) -> tuple[str, ...]:
        return tuple(name + suffix for suffix in SECRET_SUFFIXES) if self.secret else (name,)


def opt(parse: Parser, default: Any, *, secret: bool = False) -> Field:
    """A field with an explicit default (used where no dataclass carries one, e.g. notifier settings)."""
    return Field(parse, default=default, has_default=True, secret=secret)


# ---------------------------------------------------------------------------------------------- tables


def unknown_key(ctx: ParseContext, key_path: str, name: str, known: list[str], what: str = "") -> None:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    ctx.problem(key_path, f"unknown key{what}{hint}")


def all_keys(fields: Mapping[str, Field]) -> list[str]:
    return [key for name, spec in fields.items() for key in spec.keys(name)]


def parse_fields(
    ctx: ParseContext, prefix: str, raw: Mapping[str, Any], fields: Mapping[str, Field], what: str = ""
) -> tuple[dict[str, Any], bool]:
    """Parse `raw` against `fields`. Returns (values of the keys given or defaulted, True if no problem)."""
    before = len(ctx.problems)
    known = all_keys(fields)
    for name in raw:
        if name not in known:
            unknown_key(ctx, f"{prefix}.{name}", name, known, what)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        count = len(ctx.problems)
        read = _secret if spec.secret else _plain
        present, value = read(ctx, prefix, name, raw, spec)
        if present:
            values[name] = value
        elif spec.required and len(ctx.problems) == count:
            forms = ", ".join(spec.keys(name))
            ctx.problem(f"{prefix}.{name}", "missing" + (f" (give one of {forms})" if spec.secret else ""))
        elif spec.has_default:
            values[name] = spec.default
    return values, len(ctx.problems) == before


def field_keys(prefix: str, fields: Mapping[str, Field]) -> set[str]:
    """Every dotted key `fields` accepts under `prefix`, sub-tables flattened."""
    keys: set[str] = set()
    for name, spec in fields.items():
        if spec.children is not None:
            keys |= field_keys(f"{prefix}.{name}", spec.children)
        else:
            keys |= {f"{prefix}.{key}" for key in spec.keys(name)}
    return keys


def _plain(
    ctx: ParseContext, prefix: str, name: str, raw: Mapping[str, Any], spec: Field
) -> tuple[bool, Any]:
    if name not in raw:
        return False, None
    value = raw[name]
    if spec.children is not None:
        if not isinstance(value, dict):
            ctx.problem(f"{prefix}.{name}", f"expected a table, got {describe(value)}")
            return False, None
        value, ok = parse_fields(ctx, f"{prefix}.{name}", value, spec.children)
        if not ok:
            return False, None
    try:
        return True, spec.parse(value, ctx)
    except ValueError as exc:
        ctx.problem(f"{prefix}.{name}", str(exc))
        return False, None


def _secret(
    ctx: ParseContext, prefix: str, name: str, raw: Mapping[str, Any], spec: Field
) -> tuple[bool, Any]:
    given = [key for key in spec.keys(name) if key in raw]
    if not given:
        return False, None
    key = given[0]
    if len(given) > 1:
        ctx.problem(f"{prefix}.{name}", f"give only one of {', '.join(given)}")
        return False, None
    secret: str | None = None
    try:
        secret = _read_secret(ctx, key[len(name) :], raw[key], spec.many)
        if not secret:
            raise ValueError("the secret is empty")
        return True, spec.parse(secret, ctx)
    except ValueError as exc:
        # Belt and braces: a parser message must never carry the secret itself.
        message = redact(str(exc), [secret], cut_short=False)
        ctx.problem(f"{prefix}.{key}", message)
        return False, None


def _read_secret(ctx: ParseContext, form: str, value: Any, many: bool = False) -> str:
    if many and not form and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)  # a secret list (apprise `urls = [...]`): one value a line, as in _file/_env
    if not isinstance(value, str):
        kind = "a path" if form == "_file" else "a variable name" if form == "_env" else "a string"
        # A plain secret of the wrong type is described by its kind only: even a number may be a secret.
        shown = describe(value) if form else kind_of(value)
        raise ValueError(f"expected {kind}, got {shown}")
    if form == "_env":
        if not value:
            raise ValueError("expected a variable name, got an empty string")
        if value not in ctx.env:
            raise ValueError(f"environment variable {value} is not set")
        if not ctx.env[value]:
            raise ValueError(f"environment variable {value} is empty")
        return ctx.env[value]
    if form == "_file":
        file = ctx.resolve_path(value)
        try:
            return read_bounded(file, MAX_SECRET_FILE).decode("utf-8").rstrip("\r\n")
        except TooLarge:
            raise ValueError(f"{file} is larger than {MAX_SECRET_FILE} bytes: not a secret") from None
        except UnicodeDecodeError:
            raise ValueError(f"cannot read {file}: it is not UTF-8 text") from None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ValueError(f"cannot read {file}: {reason}") from None
    return value
