"""monitor.registry on every backend: a CRUD round trip (JSON labels, DOUBLE timestamps) and every refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from helpers_db import to_head
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import registry
from monitor.crypto import Vault, fingerprint
from monitor.db import migrate
from monitor.db.models import Alert, App, Snapshot, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import NewToken, RegistryError

# Not representable in a 4-byte float, nor with microseconds only: a DOUBLE column must keep every bit.
NOW = 1_767_225_600.123456789
LABELS = {"team": "growth", "env": "prod", "owner": "zoë 東京", "empty": ""}


def _migrated(url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(url)
    to_head(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """On every backend: for what the database itself must get right."""
    yield from _migrated(db_url)


@pytest.fixture
def lite(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """SQLite only: for checks made in Python before the database is asked."""
    yield from _migrated(sqlite_url)


@pytest.fixture
def vault() -> Vault:
    return Vault.from_keys([Fernet.generate_key()])


def _count(sessions: sessionmaker[Session], model: type[App] | type[Token] | type[Snapshot]) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_crud_round_trip(sessions: sessionmaker[Session], vault: Vault) -> None:
    with transaction(sessions) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
        registry.add_app(s, vault, "beta", "TH|42|sec", kind="app_token", threads_app_id="42", now=NOW)
        count = registry.add_tokens(
            s,
            vault,
            [
                NewToken("t1", "acme", "THQWJ-one", LABELS, auto_refresh=True),
                NewToken("t2", "beta", "THQWJ-two"),
            ],
            now=NOW,
        )
    assert count == 2

    with sessions() as s:
        t1 = registry.get_token(s, "t1")
        assert t1.labels == LABELS
        assert t1.auto_refresh is True
        assert t1.created_at == NOW and t1.next_check_at == NOW and t1.secret_changed_at == NOW
        assert t1.last_check_at is None and t1.consecutive_failures == 0
        assert t1.fingerprint == fingerprint("THQWJ-one")
        assert "THQWJ-one" not in t1.secret and vault.decrypt(t1.secret) == "THQWJ-one"
        assert registry.get_token(s, "t2").labels == {}
        apps = [(a.name, a.inspector_kind, a.threads_app_id, n) for a, n in registry.list_apps(s)]
        assert apps == [("acme", "user_token", None, 1), ("beta", "app_token", "42", 1)]
        beta = registry.get_app(s, "beta")
        assert vault.decrypt(beta.inspector_secret) == "TH|42|sec" and beta.created_at == NOW

    with transaction(sessions) as s:
        registry.set_auto_refresh(s, "t1", False, now=NOW + 1)
        t1_id = registry.get_token(s, "t1").id
        s.add(
            Snapshot(
                token_id=t1_id,
                observed_at=NOW + 2,
                result="valid",
                fingerprint="f",
                is_valid=True,
                expires_at=NOW + 86400.5,
            )
        )
        s.add(Snapshot(token_id=t1_id, observed_at=NOW + 3, result="error", fingerprint="f"))
        s.add(
            Alert(
                key="TokenExpiring/t1",
                alertname="TokenExpiring",
                subject="t1",
                token_id=t1_id,
                status="firing",
                severity="warning",
                labels={"token": "t1"},
                annotations={},
                fingerprint="x",
                started_at=NOW,
                updated_at=NOW,
            )
        )
    with sessions() as s:
        t1 = registry.get_token(s, "t1")
        assert t1.auto_refresh is False and t1.updated_at == NOW + 1
        assert [(h.result, h.observed_at, h.expires_at) for h in registry.history(s, "t1")] == [
            ("error", NOW + 3, None),
            ("valid", NOW + 2, NOW + 86400.5),
        ]
        assert len(registry.history(s, "t1", limit=1)) == 1

    with transaction(sessions) as s:
        registry.remove_token(s, "t1", now=NOW + 5)
    with sessions() as s:
        assert s.scalar(select(Alert.token_id)) is None  # the alert survives, to be resolved
        assert s.scalar(select(Alert.updated_at)) == NOW + 5
    assert _count(sessions, Snapshot) == 0 and _count(sessions, Token) == 1

    with transaction(sessions) as s:
        assert registry.remove_app(s, "acme") == 0
        with pytest.raises(RegistryError, match="still has 1 token"):
            registry.remove_app(s, "beta")
    with transaction(sessions) as s:
        assert registry.remove_app(s, "beta", cascade=True) == 1
    assert _count(sessions, App) == 0 and _count(sessions, Token) == 0


def test_add_tokens_is_all_or_nothing(lite: sessionmaker[Session], vault: Vault) -> None:
    with transaction(lite) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
        registry.add_tokens(s, vault, [NewToken("taken", "acme", "THQWJ-0")], now=NOW)
    batches = {
        "no app named 'ghost'": [NewToken("a", "acme", "THQWJ-a"), NewToken("b", "ghost", "THQWJ-b")],
        "'a' appears twice": [NewToken("a", "acme", "THQWJ-a"), NewToken("a", "acme", "THQWJ-b")],
        "named 'taken' already exists": [
            NewToken("a", "acme", "THQWJ-a"),
            NewToken("taken", "acme", "THQWJ-b"),
        ],
        "label name 'app' is reserved": [NewToken("a", "acme", "THQWJ-a", {"app": "x"})],
        "the token is empty": [NewToken("a", "acme", "THQWJ-a"), NewToken("b", "acme", "  ")],
    }
    for message, batch in batches.items():
        with pytest.raises(RegistryError, match=message), transaction(lite) as s:
            registry.add_tokens(s, vault, batch, now=NOW)
        assert _count(lite, Token) == 1, message


def test_a_failure_inside_the_insert_rolls_back_every_chunk(
    sessions: sessionmaker[Session], vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A concurrent writer can take a name between the check and the insert; the unique constraint then fails
    # the last chunk, and the transaction must take the earlier chunks with it.
    with transaction(sessions) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
        registry.add_tokens(s, vault, [NewToken("tok-02499", "acme", "THQWJ-0")], now=NOW)
    monkeypatch.setattr(registry.tokens, "existing_names", lambda session, names: set())
    batch = [NewToken(f"tok-{i:05d}", "acme", f"THQWJ-{i}") for i in range(2500)]
    with pytest.raises(Exception, match="(?i)unique|duplicate"), transaction(sessions) as s:
        registry.add_tokens(s, vault, batch, now=NOW)
    assert _count(sessions, Token) == 1


def test_duplicate_app_and_missing_names(lite: sessionmaker[Session], vault: Vault) -> None:
    with transaction(lite) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
    with pytest.raises(RegistryError, match="an app named 'acme' already exists"), transaction(lite) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-2", kind="user_token", threads_app_id=None, now=NOW)
    with lite() as s:
        for call in (
            lambda: registry.get_app(s, "x"),
            lambda: registry.get_token(s, "x"),
            lambda: registry.history(s, "x"),
            lambda: registry.remove_app(s, "x"),
        ):
            with pytest.raises(RegistryError, match="no (app|token) named 'x'"):
                call()


def test_tokens_owned_by_a_source_are_not_removed_by_hand(lite: sessionmaker[Session], vault: Vault) -> None:
    with transaction(lite) as s:
        registry.add_app(s, vault, "acme", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
        registry.add_tokens(s, vault, [NewToken("synced", "acme", "THQWJ-s")], now=NOW, source="appdb")
    with pytest.raises(RegistryError, match="belongs to source 'appdb'"), transaction(lite) as s:
        registry.remove_token(s, "synced", now=NOW, sources={"appdb"})
    assert _count(lite, Token) == 1
    # Once the source is gone from the config nothing would retire its tokens: they can be removed by hand.
    with transaction(lite) as s:
        registry.remove_token(s, "synced", now=NOW, sources={"other-db"})
    assert _count(lite, Token) == 0


# --- pure validation (no database) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("  THQWJ-abc\n", "THQWJ-abc"), ("\tx\r\n", "x"), ("a" * 4096, "a" * 4096)]
)
def test_check_token_string_strips(value: str, expected: str) -> None:
    assert registry.check_token_string(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        (" \n\t", "empty"),
        ("ab cd", "whitespace"),
        ("ab\x00cd", "control"),
        ("ab\x7fcd", "control"),
        ("a" * 4097, "longer than 4096"),
    ],
)
def test_check_token_string_refuses(value: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as info:
        registry.check_token_string(value)
    assert value.strip() not in str(info.value) or not value.strip()


@pytest.mark.parametrize("name", ["a", "acme-main", "user@example.com", "team/app:1", "A" * 200])
def test_valid_names(name: str) -> None:
    assert registry.check_name(name) == name


@pytest.mark.parametrize("name", ["", " a", "-a", "a b", "a\n", "é", "A" * 201, "a;b"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(RegistryError, match="is not valid"):
        registry.check_name(name)


def test_label_arguments() -> None:
    assert registry.parse_label_args(["team=growth", " env = prod ", "note=a=b", "blank="]) == {
        "team": "growth",
        "env": "prod",
        "note": "a=b",
        "blank": "",
    }
    for bad, message in [
        ("team", "expected KEY=VALUE"),
        ("=x", "not valid"),
        ("1a=x", "not valid"),
        ("a-b=x", "not valid"),
        ("token=x", "reserved"),
        ("alertname=x", "reserved"),
        ("long=" + "x" * 201, "at most 200"),
    ]:
        with pytest.raises(RegistryError, match=message):
            registry.parse_label_args([bad])


def test_new_token_repr_hides_the_token() -> None:
    assert "THQWJ-hidden" not in repr(NewToken("t", "a", "THQWJ-hidden"))


def test_a_wrong_key_cannot_write(lite: sessionmaker[Session], vault: Vault) -> None:
    """A database must not end up with secrets under two keys: writing with another key is refused."""
    from monitor.crypto import VaultError

    with transaction(lite) as s:
        registry.add_app(s, vault, "growth", "INSPECTOR-1", kind="user_token", threads_app_id=None, now=NOW)
    other = Vault.from_keys([Fernet.generate_key()])
    with pytest.raises(VaultError, match="key"), transaction(lite) as s:
        registry.add_tokens(s, other, [NewToken("t1", "growth", "THTOKEN-1")], now=NOW)
    with pytest.raises(VaultError, match="key"), transaction(lite) as s:
        registry.add_app(s, other, "other", "INSPECTOR-2", kind="user_token", threads_app_id=None, now=NOW)
    assert _count(lite, Token) == 0
    assert _count(lite, App) == 1


def test_a_bulk_add_refreshes_postgresql_statistics(postgres_url: str) -> None:
    """A bulk import leaves the planner statistics true to the table (autovacuum may be off, or a minute
    away): stale ones made the next import's duplicate check read the whole table per 500 names, so a
    1,000,000-token import was quadratic (bench/RESULTS.md). A small add leaves them to autovacuum."""
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    vault = Vault.from_keys([Fernet.generate_key()])

    def reltuples() -> float:
        with engine.connect() as conn:
            return float(
                conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'tokens'").scalar()
            )

    with transaction(sessions) as s:
        registry.add_app(s, vault, "app", "INSPECTOR-TOKEN-1", kind="user_token", threads_app_id="1", now=NOW)
        registry.add_tokens(s, vault, [NewToken("one", "app", "TOKEN-ONE-0001")], now=NOW)
    assert reltuples() == -1  # never analysed: one row is autovacuum's business
    with transaction(sessions) as s:
        registry.add_tokens(
            s, vault, [NewToken(f"t-{i}", "app", f"TOKEN-STRING-{i:06d}") for i in range(3000)], now=NOW
        )
    assert reltuples() == 3001
    engine.dispose()
