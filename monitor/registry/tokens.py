"""The registry's tokens: add, replace a string, relabel, remove; validated, encrypted, stored, with the
token's change history (monitor.registry.events). Used by the CLI, imports, the registry API and sources."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, fingerprint
from monitor.db.chunks import in_chunks
from monitor.db.models import Alert, App, Snapshot, Token
from monitor.db.stats import after_bulk_write
from monitor.registry.events import record
from monitor.registry.names import (
    RegistryError,
    check_label_keys,
    check_labels,
    check_name,
    check_token_string,
    label_diff,
)


@dataclass(frozen=True)
class NewToken:
    name: str
    app: str
    token: str = field(repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    auto_refresh: bool = False


def check_key(session: Session, vault: Vault) -> None:
    """Refuse to write with a key that cannot read what is stored: a database must not mix keys.

    Decrypts one stored secret (raises VaultError with a clear message when the key is not the one the
    database was written with). Nothing stored yet: any key is fine.
    """
    stored = session.scalar(select(App.inspector_secret).limit(1))
    if stored is not None:
        vault.decrypt(stored)


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
    existing = existing_names(session, seen)
    if existing:
        raise RegistryError(f"a token named {sorted(existing)[0]!r} already exists")
    insert_tokens(session, vault, tokens, apps, now=now, source=source, tick=tick)
    return len(tokens)


def insert_tokens(
    session: Session,
    vault: Vault,
    tokens: Sequence[NewToken],
    app_ids: Mapping[str, int],
    *,
    now: float,
    source: str | None = None,
    tick: Callable[[int], None] | None = None,
) -> None:
    """Insert validated new tokens in chunks (monitor.db.chunks)."""
    for chunk in in_chunks(tokens):
        session.execute(insert(Token), [token_row(vault, t, app_ids[t.app], now, source) for t in chunk])
        if tick is not None:
            tick(len(chunk))
    after_bulk_write(session, Token.__tablename__, len(tokens))


def existing_names(session: Session, names: Collection[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(names)
    for chunk in in_chunks(ordered):
        found.update(session.scalars(select(Token.name).where(Token.name.in_(chunk))).all())
    return found


def get_token(session: Session, name: str) -> Token:
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        raise RegistryError(f"no token named {name!r} (see `tokens list`)")
    return token


def current_string(session: Session, vault: Vault, name: str) -> str:
    """The decrypted string the token `name` holds now (a refresh may have replaced it); RegistryError names
    a missing token."""
    return vault.decrypt(get_token(session, name).secret)


def editable(token: Token, sources: Collection[str], doing: str = "edit it") -> Token:
    """`token`, unless a configured `[[sources]]` entry owns it: its next sync would undo any edit."""
    if token.source is not None and token.source in sources:
        raise RegistryError(
            f"token {token.name!r} belongs to source {token.source!r}: change it there (the next sync "
            f"would undo it), or remove the source from the configuration to {doing} here"
        )
    return token


def remove_token(session: Session, name: str, *, now: float, sources: Collection[str] = ()) -> None:
    """Remove a token added by hand, or one whose source is no longer configured (`sources`): nothing would
    ever retire it otherwise. Its firing alerts end as "removed"."""
    token = get_token(session, name)
    if token.source is not None and token.source in sources:
        raise RegistryError(
            f"token {name!r} belongs to source {token.source!r}: remove it there, the next sync retires it"
        )
    delete_tokens(session, [token.id], now=now)


def delete_tokens(session: Session, ids: Sequence[int], *, now: float, reason: str = "removed") -> None:
    """Delete tokens and their history. Their firing alerts are resolved by the next alert evaluation,
    with `reason` (removed | retired by source | app removed): never "valid again"."""
    for part in in_chunks(ids):
        chunk = list(part)
        session.execute(delete(Snapshot).where(Snapshot.token_id.in_(chunk)))
        session.execute(
            update(Alert)
            .where(Alert.token_id.in_(chunk), Alert.status == "firing")
            .values(token_id=None, resolved_reason=reason, updated_at=now)
        )
        session.execute(update(Alert).where(Alert.token_id.in_(chunk)).values(token_id=None, updated_at=now))
        session.execute(delete(Token).where(Token.id.in_(chunk)))


# The refresh state of a token's string. Whoever stores a new string (or switches auto-refresh) resets it, so
# a refresh refused for good ("until the string changes") is tried again and TokenRefreshFailed resolves.
REFRESH_RESET = {"refresh_failures": 0, "next_refresh_at": None, "refresh_error": None}


def new_string_values(vault: Vault, token: str, now: float) -> dict:
    """What storing a new string writes: the string, due at once, the refresh state started over. The last
    observation stays until the new string's first answer, so an alert raised by the old string holds
    until the new one is found fine (it then ends as "replaced")."""
    return {
        "secret": vault.encrypt(token),
        "fingerprint": fingerprint(token),
        "secret_changed_at": now,
        "updated_at": now,
        "next_check_at": now,
        "writeback_error": None,
        **REFRESH_RESET,
    }


def replace_string(
    session: Session, vault: Vault, name: str, token: str, *, now: float, via: str, sources: Collection[str]
) -> tuple[str, str]:
    """Store a new string under `name`, keeping its history and alert ladder; (old, new) fingerprints."""
    token = check_token_string(token)
    row = editable(get_token(session, name), sources)
    check_key(session, vault)
    old, new = row.fingerprint, fingerprint(token)
    if old == new:
        raise RegistryError(f"token {name!r} already has this string (fingerprint {new})")
    for key, value in new_string_values(vault, token, now).items():
        setattr(row, key, value)
    record(session, row.id, "replaced", via, now, fingerprint=new, previous=old)
    return old, new


def set_labels(
    session: Session,
    name: str,
    labels: Mapping[str, str],
    remove: Sequence[str] = (),
    *,
    now: float,
    via: str,
    sources: Collection[str],
) -> dict[str, str]:
    """Set and remove labels of one token (the others stay); the labels it now has."""
    row = editable(get_token(session, name), sources)
    before = dict(row.labels or {})
    after = {k: v for k, v in {**before, **check_labels(labels)}.items() if k not in check_label_keys(remove)}
    if after != before:
        row.labels = after
        row.updated_at = now
        record(session, row.id, "labels", via, now, detail=label_diff(before, after))
    return after


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
