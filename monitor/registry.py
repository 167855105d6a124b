"""Filling the registry: apps and tokens, validated, encrypted, stored. Used by the CLI and sources."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, fingerprint
from monitor.db.models import Alert, App, Snapshot, Token
from monitor.db.stats import after_bulk_write

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED_LABELS = frozenset({"alertname", "token", "app", "severity", "scope", "source", "job", "instance"})
MAX_TOKEN_LENGTH = 4096
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


@dataclass(frozen=True)
class NewToken:
    name: str
    app: str
    token: str = field(repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    auto_refresh: bool = False


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


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not LABEL_RE.fullmatch(key):
            raise RegistryError(
                f"label name {key!r} is not valid (letters, digits, _; not starting with a digit)"
            )
        if key in RESERVED_LABELS:
            raise RegistryError(f"label name {key!r} is reserved")
        if not isinstance(value, str) or len(value) > 200:
            raise RegistryError(f"label {key!r} must be a string of at most 200 characters")
        out[key] = value
    return out


def parse_label_args(items: Iterable[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise RegistryError(f"--label {item!r}: expected KEY=VALUE")
        labels[key.strip()] = value.strip()
    return check_labels(labels)


def check_key(session: Session, vault: Vault) -> None:
    """Refuse to write with a key that cannot read what is stored: a database must not mix keys.

    Decrypts one stored secret (raises VaultError with a clear message when the key is not the one the
    database was written with). Nothing stored yet: any key is fine.
    """
    stored = session.scalar(select(App.inspector_secret).limit(1))
    if stored is not None:
        vault.decrypt(stored)


# --- apps -------------------------------------------------------------------------------------------


def add_app(
    session: Session,
    vault: Vault,
    name: str,
    inspector: str,
    *,
    kind: str,
    threads_app_id: str | None,
    now: float,
) -> App:
    check_name(name, "app name")
    inspector = check_token_string(inspector, "inspector credential")
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        raise RegistryError(f"an app named {name!r} already exists")
    check_key(session, vault)
    app = App(
        name=name,
        threads_app_id=threads_app_id,
        inspector_kind=kind,
        inspector_secret=vault.encrypt(inspector),
        inspector_fingerprint=fingerprint(inspector),
        created_at=now,
    )
    session.add(app)
    session.flush()
    return app


def set_app_secret(session: Session, vault: Vault, name: str, secret: str) -> App:
    """Store (encrypted) the app secret that signs `name`'s deauthorize callbacks (SPEC 11)."""
    secret = check_app_secret(secret)
    app = get_app(session, name)
    check_key(session, vault)
    app.callback_secret = vault.encrypt(secret)
    return app


def get_app(session: Session, name: str) -> App:
    app = session.scalar(select(App).where(App.name == name))
    if app is None:
        raise RegistryError(f"no app named {name!r} (see `apps list`)")
    return app


def list_apps(session: Session) -> list[tuple[App, int]]:
    counts = dict(session.execute(select(Token.app_id, func.count()).group_by(Token.app_id)).all())
    apps = session.scalars(select(App).order_by(App.name)).all()
    return [(app, counts.get(app.id, 0)) for app in apps]


def remove_app(session: Session, name: str, *, cascade: bool = False) -> int:
    """Remove an app; with cascade its tokens too. Returns the number of tokens removed."""
    app = get_app(session, name)
    count = session.scalar(select(func.count()).select_from(Token).where(Token.app_id == app.id)) or 0
    if count and not cascade:
        raise RegistryError(f"app {name!r} still has {count} token(s): remove them first, or use --cascade")
    if count:
        session.execute(
            delete(Snapshot).where(Snapshot.token_id.in_(select(Token.id).where(Token.app_id == app.id)))
        )
        session.execute(delete(Token).where(Token.app_id == app.id))
    session.delete(app)
    return count


# --- tokens -----------------------------------------------------------------------------------------


def token_row(vault: Vault, new: NewToken, app_id: int, now: float, source: str | None = None) -> dict:
    """The column values of a new token, ready for a bulk insert. Due for its first check at once."""
    return {
        "name": new.name,
        "app_id": app_id,
        "secret": vault.encrypt(new.token),
        "fingerprint": fingerprint(new.token),
        "labels": dict(new.labels),
        "auto_refresh": new.auto_refresh,
        "source": source,
        "created_at": now,
        "updated_at": now,
        "secret_changed_at": now,
        "next_check_at": now,
        "consecutive_failures": 0,
        "refresh_failures": 0,
    }


def add_tokens(
    session: Session,
    vault: Vault,
    tokens: Sequence[NewToken],
    *,
    now: float,
    source: str | None = None,
    tick: Callable[[int], None] | None = None,
) -> int:
    """Validate every token, then insert all of them (all-or-nothing: the caller's transaction).

    `tick(n)` is called as each chunk of n tokens is encrypted and inserted (the import's progress bar)."""
    check_key(session, vault)
    apps = dict(session.execute(select(App.name, App.id)).all())
    seen: set[str] = set()
    for t in tokens:
        check_name(t.name, "token name")
        check_token_string(t.token)
        check_labels(t.labels)
        if t.app not in apps:
            raise RegistryError(f"token {t.name!r}: no app named {t.app!r} (see `apps list`)")
        if t.name in seen:
            raise RegistryError(f"token name {t.name!r} appears twice")
        seen.add(t.name)
    existing = _existing_names(session, seen)
    if existing:
        raise RegistryError(f"a token named {sorted(existing)[0]!r} already exists")
    for start in range(0, len(tokens), 1000):
        chunk = tokens[start : start + 1000]
        session.execute(insert(Token), [token_row(vault, t, apps[t.app], now, source) for t in chunk])
        if tick is not None:
            tick(len(chunk))
    after_bulk_write(session, Token.__tablename__, len(tokens))
    return len(tokens)


def _existing_names(session: Session, names: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(names)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        found.update(session.scalars(select(Token.name).where(Token.name.in_(chunk))).all())
    return found


def get_token(session: Session, name: str) -> Token:
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        raise RegistryError(f"no token named {name!r} (see `tokens list`)")
    return token


def remove_token(session: Session, name: str, *, now: float, sources: Collection[str] = ()) -> None:
    """Remove a token added by hand, or one whose source is no longer configured (`sources`): nothing would
    ever retire it otherwise."""
    token = get_token(session, name)
    if token.source is not None and token.source in sources:
        raise RegistryError(
            f"token {name!r} belongs to source {token.source!r}: remove it there, the next sync retires it"
        )
    delete_tokens(session, [token.id], now=now)


def delete_tokens(session: Session, ids: Sequence[int], *, now: float) -> None:
    """Delete tokens and their history; their firing alerts are resolved by the next alert evaluation."""
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        session.execute(delete(Snapshot).where(Snapshot.token_id.in_(chunk)))
        session.execute(update(Alert).where(Alert.token_id.in_(chunk)).values(token_id=None, updated_at=now))
        session.execute(delete(Token).where(Token.id.in_(chunk)))


# The refresh state of a token's string. Whoever stores a new string (or switches auto-refresh) resets it, so
# a refresh refused for good ("until the string changes") is tried again and TokenRefreshFailed resolves.
REFRESH_RESET = {"refresh_failures": 0, "next_refresh_at": None, "refresh_error": None}


def set_auto_refresh(session: Session, name: str, enabled: bool, *, now: float) -> None:
    """Switch automatic refresh on or off; either way the refresh backoff and error start over."""
    token = get_token(session, name)
    token.auto_refresh = enabled
    for key, value in REFRESH_RESET.items():
        setattr(token, key, value)
    token.updated_at = now


def history(session: Session, name: str, limit: int = 100) -> list[Snapshot]:
    token = get_token(session, name)
    stmt = (
        select(Snapshot)
        .where(Snapshot.token_id == token.id)
        .order_by(Snapshot.observed_at.desc(), Snapshot.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt).all())
