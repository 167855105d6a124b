"""Keeping secrets out of text: the one redaction, and the one log-safe line for an exception.

Every place that shows a peer's words (an API message, a driver error, an SMTP reply) or an exception passes
it through here: `redact(text, secrets)` replaces each secret, its URL-encoded forms, the secret half of an
app token `TH|<id>|<secret>`, and a long enough prefix of a secret that a peer echoed back cut short;
`error_line(exc, secrets)` gives one line for a log or a stored error that never carries an SQL statement,
its parameters, a URL or a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit

__all__ = ["MAX_LINE", "REDACTED", "error_line", "redact", "redact_url", "secret_variants", "url_secrets"]

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter values ("1", "abc") would scrub ordinary words
PREFIX_MATCH = 12  # a peer that echoes a secret cut short still gives away its first characters
MAX_LINE = 300


def secret_variants(secrets: Iterable[str | None]) -> list[str]:
    """Every form of the secrets to replace, longest first (a token goes whole before a piece of it)."""
    out: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        parts = [secret]
        if secret.count("|") == 2:  # "TH|<app_id>|<app_secret>": the app id is public, the secret is not
            parts.append(secret.rsplit("|", 1)[1])
        for part in parts:
            if len(part) >= MIN_SECRET:
                out.update({part, quote(part, safe=""), quote_plus(part)})
    return sorted(out, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None], *, cut_short: bool = True) -> str:
    """`text` with every secret (whole, URL-encoded, or a prefix of at least 12 characters) replaced.

    `cut_short=False` leaves prefixes alone: for text the program wrote itself, which may name a URL's
    scheme ("postgresql+psycopg2://") but never holds a piece of a secret a peer cut short."""
    variants = secret_variants(secrets)
    for variant in variants:
        text = text.replace(variant, REDACTED)
    for variant in variants if cut_short else ():
        if len(variant) > PREFIX_MATCH:
            text = _redact_prefixes(text, variant)
    return text


def _redact_prefixes(text: str, secret: str) -> str:
    """Replace each run of `text` that starts like `secret` for at least PREFIX_MATCH characters."""
    head = secret[:PREFIX_MATCH]
    start = text.find(head)
    while start != -1:
        end = start + PREFIX_MATCH
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + REDACTED + text[end:]
        start = text.find(head, start + len(REDACTED))
    return text


def error_line(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One log-safe line: the exception's type and first line; for a database error, the driver's first line
    (never the SQL statement or its parameters); secrets redacted; at most MAX_LINE characters."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError/StatementError wrap the driver's exception
    shown = orig if isinstance(orig, BaseException) else exc
    lines = str(shown).strip().splitlines()
    line = f"{type(shown).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return redact(line, secrets)[:MAX_LINE]


def redact_url(url: str) -> str:
    """Keep only scheme, host and port of a URL: paths, query strings and user info are credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}/{REDACTED}"


def url_secrets(url: object) -> list[str]:
    """The parts of a URL to scrub from error text: the URL itself, a non-trivial path/query, its password."""
    if not url:
        return []
    text = str(url)
    out = [text]
    tail = text.split("://", 1)[-1].partition("/")[2]
    if len(tail) >= 8:
        out.append(tail)
    try:
        password = urlsplit(text).password
    except ValueError:
        password = None
    if password:
        out.append(password)
    return out
