"""The registry API's input, validated once at the edge: JSON bodies, paths, query strings and cursors become
typed values or an ApiError (400) whose message is fixed text or a registry rule, never a piece of a token.
Pure: no database, no clock."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from monitor.graph.platforms import PLATFORMS
from monitor.registry import RegistryError, TokenWrite, check_comment, check_name, check_token_string
from monitor.state import STATES

__all__ = ["ApiError", "ListQuery", "Target", "parse_list", "parse_mute", "parse_put", "parse_target"]

TOKENS_PATH = "/api/v1/tokens"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
PUT_KEYS = frozenset({"app", "token", "labels", "auto_refresh"})
MUTE_KEYS = frozenset({"for", "until", "comment"})


class ApiError(ValueError):
    """A request to refuse: `status` (400, 404) and a message for the client, never a piece of a secret."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Target:
    """What a path names: a token, and `mute` for /api/v1/tokens/NAME/mute."""

    name: str
    mute: bool = False


def parse_target(path: str) -> Target:
    """/api/v1/tokens/NAME or /api/v1/tokens/NAME/mute, from the raw path: a name holding "/" is sent as
    %2F, so the segments are split before they are decoded and `a%2Fmute` is the token "a/mute"."""
    rest = path[len(TOKENS_PATH) + 1 :]
    segments = rest.split("/")
    if len(segments) > 2 or (len(segments) == 2 and segments[1] != "mute"):
        raise ApiError("no such resource", 404)
    try:
        name = unquote(segments[0], errors="strict")
    except UnicodeDecodeError:
        raise ApiError("the token name is not UTF-8") from None
    try:
        check_name(name, "token name")
    except RegistryError as exc:
        raise ApiError(str(exc)) from None
    return Target(name, mute=len(segments) == 2)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object")
    return data


def parse_put(name: str, body: bytes) -> TokenWrite:
    """{"app": NAME, "token": STRING, "labels": {K: V}, "auto_refresh": BOOL}: the token to create or
    replace. A key left out keeps what an existing token has (a new one needs app and token)."""
    data = _object(body)
    unknown = sorted(set(data) - PUT_KEYS)
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(unknown)} (allowed: app, token, labels, auto_refresh)")
    token, app, labels, auto = (
        data.get("token"),
        data.get("app"),
        data.get("labels"),
        data.get("auto_refresh"),
    )
    if not isinstance(token, str):
        raise ApiError("token must be a string")
    if app is not None and not isinstance(app, str):
        raise ApiError("app must be a string")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    ):
        raise ApiError("labels must be an object of strings")
    if auto is not None and not isinstance(auto, bool):
        raise ApiError("auto_refresh must be true or false")
    try:
        return TokenWrite(name, app, check_token_string(token), labels, auto)
    except RegistryError as exc:
        raise ApiError(str(exc)) from None


@dataclass(frozen=True)
class MuteRequest:
    duration: str | None
    until: str | None
    comment: str | None


def parse_mute(body: bytes) -> MuteRequest:
    """{"for": "7d"} or {"until": "2027-01-31T00:00Z"}, with an optional "comment"."""
    data = _object(body)
    unknown = sorted(set(data) - MUTE_KEYS)
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(unknown)} (allowed: for, until, comment)")
    values = {k: data.get(k) for k in MUTE_KEYS}
    if any(v is not None and not isinstance(v, str) for v in values.values()):
        raise ApiError("for, until and comment must be strings")
    try:
        comment = check_comment(values["comment"])
    except RegistryError as exc:
        raise ApiError(str(exc)) from None
    return MuteRequest(values["for"], values["until"], comment)


@dataclass(frozen=True)
class ListQuery:
    app: str | None = None
    state: str | None = None
    after: str | None = None  # the last name of the previous page
    limit: int = DEFAULT_PAGE
    platform: str | None = None  # SPEC 16: only the tokens of apps of this platform


def parse_list(query: str) -> ListQuery:
    """?app=NAME&state=STATE&platform=NAME&cursor=OPAQUE&limit=N (each at most once)."""
    try:
        params = parse_qs(query, keep_blank_values=True, max_num_fields=10, strict_parsing=False)
    except ValueError:
        raise ApiError("too many query parameters") from None
    if any(len(v) > 1 for v in params.values()):
        raise ApiError("a query parameter is given more than once")
    one = {k: v[0] for k, v in params.items()}
    state = one.get("state") or None
    if state is not None and state not in {s.value for s in STATES}:
        raise ApiError(f"state must be one of: {', '.join(s.value for s in STATES)}")
    limit = one.get("limit", str(DEFAULT_PAGE))
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_PAGE):
        raise ApiError(f"limit must be a whole number from 1 to {MAX_PAGE}")
    app = one.get("app") or None
    if app is not None and len(app) > 200:
        raise ApiError("app is limited to 200 characters")
    platform = one.get("platform") or None
    if platform is not None and platform not in PLATFORMS:
        raise ApiError(f"platform must be one of: {', '.join(PLATFORMS)}")
    after = decode_cursor(one["cursor"]) if one.get("cursor") else None
    return ListQuery(app, state, after, int(limit), platform)


def encode_cursor(after: str) -> str:
    """An opaque cursor for the page after the token named `after`."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw.decode("utf-8"))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise ApiError("the cursor is not one this API gave") from None
    if not isinstance(after, str) or len(after) > 200:
        raise ApiError("the cursor is not one this API gave")
    return after
