"""What the registry accepts: names, token strings, labels, comments. Pure: one home for the rules that the
CLI, imports, the registry API and sources all apply (RegistryError says why, never echoing a secret)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED_LABELS = frozenset({"alertname", "token", "app", "severity", "scope", "source", "job", "instance"})
MAX_TOKEN_LENGTH = 4096
MAX_COMMENT = 300
# Whitespace (str.isspace, Unicode-wide) or a control character: one regex scan, not a Python loop per
# character, so a 10,000-row import validates in milliseconds.
_BAD_TOKEN_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")
# What an access token looks like, so that one is never taken as a name (a name becomes a metric label and
# shows in every listing and alert): Meta's prefixes (TH.. Threads, EAA.. Facebook, IG.. Instagram) followed
# by token characters with a digit among them, or any long run of token characters mixing case and digits.
_PREFIXED_TOKEN = re.compile(r"(?:TH|EAA|IG)[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,}")


class RegistryError(Exception):
    """A registry operation was refused; the message says why and nothing was changed."""


def looks_like_token(value: str) -> bool:
    """True for a value shaped like an access token (refused as a name, never echoed in a message)."""
    if len(value) >= 12 and _PREFIXED_TOKEN.fullmatch(value):
        return True
    mixed = (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
    return mixed and _LONG_TOKEN.fullmatch(value) is not None


def check_name(name: str, what: str = "name") -> str:
    """`name` when it is a valid name; RegistryError otherwise (a token-like value is never repeated)."""
    if looks_like_token(name):
        raise RegistryError(
            f"the {what} looks like an access token: refused, so that it never becomes a label or shows in "
            "output (are the name and token columns swapped?)"
        )
    if not NAME_RE.fullmatch(name):
        raise RegistryError(
            f"{what} {name!r} is not valid: use 1-200 letters, digits and . _ : @ / + - (starting with a "
            "letter or digit)"
        )
    return name


MIN_APP_SECRET = 16  # Meta's app secrets have 32 characters; a short one is a typo or a placeholder


def check_app_secret(value: str) -> str:
    """An app secret as given (one final line ending of a file or stdin removed), or RegistryError: it
    keys the HMAC of every callback, so whitespace around it (which Meta's secrets never have) or a short
    one is refused rather than stored, where no callback would ever verify. Never repeated in a message."""
    secret = value.removesuffix("\n").removesuffix("\r")
    if not secret.strip():
        raise RegistryError("the app secret is empty")
    if secret != secret.strip():
        raise RegistryError(
            "the app secret begins or ends with whitespace; Meta's app secrets have none: copy it again"
        )
    if len(secret) < MIN_APP_SECRET:
        raise RegistryError(
            f"the app secret is shorter than {MIN_APP_SECRET} characters; Meta's have 32 "
            "(App settings > Basic > App secret)"
        )
    if _BAD_TOKEN_CHAR.search(secret):
        raise RegistryError("the app secret contains whitespace or control characters")
    return secret


def check_token_string(value: str, what: str = "token") -> str:
    """Strip surrounding whitespace; refuse empty strings, inner whitespace and control characters."""
    token = value.strip()
    if not token:
        raise RegistryError(f"the {what} is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise RegistryError(f"the {what} is longer than {MAX_TOKEN_LENGTH} characters")
    if _BAD_TOKEN_CHAR.search(token):
        raise RegistryError(f"the {what} contains whitespace or control characters")
    if token.isdigit():
        raise RegistryError(
            f"the {what} is a number, not an access token (are the name and token columns swapped?)"
        )
    return token


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_RE.fullmatch(key):
            raise RegistryError(
                f"label name {key!r} is not valid (letters, digits, _; not starting with a digit)"
            )
        if key in RESERVED_LABELS:
            raise RegistryError(f"label name {key!r} is reserved")
        if not isinstance(value, str) or len(value) > 200:
            raise RegistryError(f"label {key!r} must be a string of at most 200 characters")
        if looks_like_token(value):
            raise RegistryError(f"label {key!r} looks like an access token: refused")
        out[key] = value
    return out


def parse_label_args(items: Iterable[str], option: str = "--label") -> dict[str, str]:
    """KEY=VALUE arguments as validated labels."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            shown = "(a value shaped like a token)" if looks_like_token(item) else repr(item)
            raise RegistryError(f"{option} {shown}: expected KEY=VALUE")
        if labels.get(key.strip(), value.strip()) != value.strip():  # which one was meant? (values unshown)
            raise RegistryError(f"{option}: label {key.strip()!r} is given twice, with different values")
        labels[key.strip()] = value.strip()
    return check_labels(labels)


def check_label_keys(keys: Iterable[str]) -> list[str]:
    """Label names to remove: each a valid label name."""
    out = []
    for key in keys:
        if not LABEL_RE.fullmatch(key) or key in RESERVED_LABELS:
            raise RegistryError(f"label name {key!r} is not a label a token can have")
        out.append(key)
    return out


def check_comment(text: str | None) -> str | None:
    """A mute's comment: printable, at most MAX_COMMENT characters, never a token (it shows everywhere)."""
    if text is None or not text.strip():
        return None
    comment = text.strip()
    if len(comment) > MAX_COMMENT:
        raise RegistryError(f"the comment is longer than {MAX_COMMENT} characters")
    if not comment.isprintable():
        raise RegistryError("the comment contains control characters")
    if any(looks_like_token(word) for word in comment.split()):
        raise RegistryError("the comment holds something shaped like an access token: refused")
    return comment


def label_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """ "set team=growth, env=prod; removed owner" (for the token's change history)."""
    changed = [f"{k}={v}" for k, v in sorted(after.items()) if before.get(k) != v]
    removed = sorted(set(before) - set(after))
    parts = ([f"set {', '.join(changed)}"] if changed else []) + (
        [f"removed {', '.join(removed)}"] if removed else []
    )
    return "; ".join(parts)[:MAX_COMMENT] or "unchanged"
