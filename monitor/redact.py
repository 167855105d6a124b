"""Keeping secrets out of text: the one redaction, and the one log-safe line for an exception.

Every place that shows a peer's words (an API message, a driver error, an SMTP reply) or an exception passes
it through here: `redact(text, secrets)` replaces each secret in every form the product itself sends it
(plain, URL-encoded, base64; `credential_forms` adds HTTP Basic and SMTP AUTH PLAIN for a user and password),
the secret half of an app token `TH|<id>|<secret>`, and a long enough prefix of a secret that a peer echoed
back cut short; `Redactor` is the same with the forms worked out once, and `RedactingFilter` applies one to
every log record; `error_line(exc, secrets)` gives one line for a log or a stored error that never carries an
SQL statement, its parameters, a URL or a secret.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit

__all__ = [
    "LOG_FILTER", "MAX_LINE", "REDACTED", "RedactingFilter", "Redactor", "credential_forms", "error_line",
    "first_line", "protect_logs", "record_extras", "redact", "redact_url", "secret_variants", "shown_error",
    "url_secrets",
]  # fmt: skip

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
                encoded = base64.b64encode(part.encode("utf-8")).decode("ascii")
                out.update({part, quote(part, safe=""), quote_plus(part), encoded, encoded.rstrip("=")})
    return sorted(out, key=len, reverse=True)


def credential_forms(username: str | None, password: str | None) -> list[str]:
    """A password and what the product sends for a user and that password: HTTP Basic (base64 of
    "user:password") and SMTP AUTH PLAIN (base64 of NUL user NUL password), as secrets to redact."""
    if not password:
        return []
    if not username:
        return [password]
    pairs = (f"{username}:{password}", f"\0{username}\0{password}")
    return [password, *(base64.b64encode(pair.encode("utf-8")).decode("ascii") for pair in pairs)]


class Redactor:
    """`redactor(text)`: `redact(text, secrets)` with the forms of the secrets worked out once."""

    def __init__(self, secrets: Iterable[str | None], *, cut_short: bool = True) -> None:
        self.variants = secret_variants(secrets)
        self.cut_short = cut_short

    def __call__(self, text: str) -> str:
        for variant in self.variants:
            text = text.replace(variant, REDACTED)
        for variant in self.variants if self.cut_short else ():
            if len(variant) > PREFIX_MATCH:
                text = _redact_prefixes(text, variant)
        return text


def redact(text: str, secrets: Iterable[str | None], *, cut_short: bool = True) -> str:
    """`text` with every secret (whole, URL-encoded, base64, or a prefix of at least 12 characters)
    replaced.

    `cut_short=False` leaves prefixes alone: for text the program wrote itself, which may name a URL's
    scheme ("postgresql+psycopg2://") but never holds a piece of a secret a peer cut short."""
    return Redactor(secrets, cut_short=cut_short)(text)


# What every LogRecord has; anything else on a record came from `extra=` (and a JSON log line shows it).
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def record_extras(record: logging.LogRecord) -> dict[str, object]:
    """The fields a log call added with `extra=`, by name."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Redacts the configured secrets from every record that passes the handler it is attached to: the
    message, the traceback and each `extra=` field (the last line of defence: each module redacts what it
    shows itself). `update(secrets)` after a reload."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._redactor = Redactor(secrets)

    def update(self, secrets: Iterable[str | None]) -> None:
        redactor = Redactor(secrets)
        with self._lock:
            self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        if not redactor.variants:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted cannot be checked either: drop it
            return False
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redactor(text)
        if clean != text:
            record.msg, record.args = clean, ()
        if record.exc_text:
            record.exc_text = redactor(record.exc_text)
        for key, value in record_extras(record).items():
            if not isinstance(value, bool | int | float | None):  # a number cannot hold a secret
                setattr(record, key, redactor(value if isinstance(value, str) else str(value)))
        return True


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


LOG_FILTER = RedactingFilter()  # the process's: on every root handler once `protect_logs` has run


def protect_logs(secrets: Iterable[str | None]) -> None:
    """Redact `secrets` from every record the root logger's handlers emit (call again after replacing the
    handlers or reloading the configuration)."""
    LOG_FILTER.update(secrets)
    for handler in logging.getLogger().handlers:
        if LOG_FILTER not in handler.filters:
            handler.addFilter(LOG_FILTER)


def shown_error(exc: BaseException) -> BaseException:
    """The exception whose text may be shown: for a database error the driver's (SQLAlchemy's own text
    carries the SQL statement and its parameters), else `exc` itself."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError/StatementError wrap the driver's exception
    return orig if isinstance(orig, BaseException) else exc


def first_line(exc: BaseException) -> str:
    """The first line of `shown_error(exc)`'s text ("" when it has none); not yet redacted."""
    lines = str(shown_error(exc)).strip().splitlines()
    return lines[0] if lines else ""


def error_line(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One log-safe line: the exception's type and first line; for a database error, the driver's first line
    (never the SQL statement or its parameters); secrets redacted; at most MAX_LINE characters. The one
    way the product turns an exception into text for a log, a stored error or a message."""
    line = f"{type(shown_error(exc)).__name__}: {first_line(exc)}".rstrip(": ")
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
