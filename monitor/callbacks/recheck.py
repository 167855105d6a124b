"""The recheck API's request (SPEC 11): `POST /api/v1/recheck` bodies, parsed once at the edge."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["MAX_RECHECK_BODY", "MAX_RECHECK_TOKENS", "RecheckError", "RecheckRequest", "parse_recheck"]

MAX_RECHECK_TOKENS = 1000
MAX_RECHECK_BODY = 256 * 1024  # room for MAX_RECHECK_TOKENS names of the registry's longest (200 characters)

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_USER_ID = re.compile(r"[0-9]{1,64}")


@dataclass(frozen=True)
class RecheckRequest:
    """Tokens to check at once: by registered name, or every token of `app` last seen with `user_id`."""

    tokens: tuple[str, ...] = ()
    app: str | None = None
    user_id: str | None = None


class RecheckError(ValueError):
    """A recheck body to refuse (400); the message is fixed text, never a piece of the body."""


def parse_recheck(body: bytes) -> RecheckRequest:
    """`{"token": NAME}`, `{"tokens": [NAME, ...]}` (1 to MAX_RECHECK_TOKENS) or `{"app": NAME, "user_id":
    DIGITS}`, nothing more; names 1-200 characters without control characters. RecheckError otherwise."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecheckError("the body is not JSON") from None
    keys = set(data) if isinstance(data, dict) else set()
    if keys == {"token"}:
        return RecheckRequest(tokens=(_name(data["token"]),))
    if keys == {"tokens"}:
        names = data["tokens"]
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_RECHECK_TOKENS:
            raise RecheckError(f"tokens must be a list of 1 to {MAX_RECHECK_TOKENS} names")
        return RecheckRequest(tokens=tuple(dict.fromkeys(_name(name) for name in names)))
    if keys == {"app", "user_id"}:
        return RecheckRequest(app=_name(data["app"]), user_id=_user_id(data["user_id"]))
    raise RecheckError('expected {"token": NAME}, {"tokens": [NAME, ...]} or {"app": NAME, "user_id": ID}')


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RecheckError("a name must be a string of 1 to 200 characters")
    return value


def _user_id(value: object) -> str:
    text = str(value) if type(value) is int and value >= 0 else value
    if not isinstance(text, str) or not _USER_ID.fullmatch(text):
        raise RecheckError("user_id must be a string of digits")
    return text
