"""Sources (SPEC section 9): the token registry read from a real application database.

Every test runs on SQLite, and on PostgreSQL when MONITOR_TEST_POSTGRES_URL is set: the monitor's database and
the application's database (a `threads_accounts` table) are separate fresh databases on that backend.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import FreshDatabase, write_config
from helpers_db import to_head
from helpers_metrics import metrics_inputs
from sqlalchemy import Engine, create_engine, func, select, text, update
from support import database_server, statements

from monitor.cli import main
from monitor.config.load import Config, DatabaseConfig, SecurityConfig, SourceConfig
from monitor.context import Context
from monitor.crypto import create_key_file, fingerprint
from monitor.db.models import Alert, Snapshot, Source, Token
from monitor.db.session import transaction
from monitor.metrics.exposition import build_metrics
from monitor.registry import NewToken, add_app, add_tokens
from monitor.sources.job import (
    SourceEngines,
    SourceError,
    SourcesComponent,
    SourcesSettings,
    claim,
    sync_source,
    write_back_pending,
)
from monitor.sources.read import FETCH_BATCH, validate_rows

NOW = 1_800_000_000.0
QUERY = "SELECT account_id AS name, access_token AS token, team FROM threads_accounts WHERE active"
ON_REFRESH = "UPDATE threads_accounts SET access_token = :token WHERE account_id = CAST(:name AS INTEGER)"

# A ROWS-row sync (five fetch batches of FETCH_BATCH): a few dozen statements, then about a dozen for the
# churn; one per row (ROWS+) is what SYNC_STATEMENTS catches.
ROWS = 5 * FETCH_BATCH
SYNC_STATEMENTS = ROWS // 10


class Recorder:
    """Stands in for the daemon's metric events."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def source_sync(self, source: str, outcome: str) -> None:
        self.calls.append((source, outcome))


@dataclass
class World:
    """A migrated monitor database with app "growth", and an application database with threads_accounts."""

    ctx: Context
    app_engine: Engine
    app_url: str
    key_file: Path
    monitor_url: str
    source: SourceConfig
    now: float = NOW
    issued: list[str] = field(default_factory=list)  # every token string handed to the application

    def token(self) -> str:
        value = "THAA" + secrets.token_hex(24)
        self.issued.append(value)
        return value

    def account(self, account_id: int, team: str | None = "growth", active: bool = True) -> str:
        value = self.token()
        with self.app_engine.begin() as conn:
            conn.execute(
                text("INSERT INTO threads_accounts VALUES (:id, :token, :team, :active)"),
                {"id": account_id, "token": value, "team": team, "active": active},
            )
        return value

    def app_sql(self, sql: str, **params: Any) -> Any:
        with self.app_engine.begin() as conn:
            return conn.execute(text(sql), params)

    def sync(self, source: SourceConfig | None = None, events: Any = None) -> Any:
        return sync_source(self.ctx.sessions, self.ctx.vault, source or self.source, self.now, events=events)

    def tokens(self) -> dict[str, Token]:
        with self.ctx.sessions() as s:
            return {t.name: t for t in s.scalars(select(Token))}

    def state(self) -> list[tuple[Any, ...]]:
        """Everything a sync may change, to prove a failed one changed nothing."""
        with self.ctx.sessions() as s:
            rows = s.execute(
                select(Token.name, Token.fingerprint, Token.labels, Token.source, Token.next_check_at)
            ).all()
            return sorted(tuple(r) for r in rows)

    def source_row(self, name: str = "app-db") -> Source | None:
        with self.ctx.sessions() as s:
            return s.scalar(select(Source).where(Source.name == name))

    def assert_no_leak(self, *texts: str) -> None:
        for value in self.issued:
            for blob in texts:
                assert value not in blob


def _create_accounts(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE threads_accounts (account_id INTEGER PRIMARY KEY,"
                " access_token VARCHAR(500) NOT NULL, team VARCHAR(50), active BOOLEAN NOT NULL)"
            )
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        yield from _world(
            tmp_path, f"sqlite:///{tmp_path / 'monitor.sqlite3'}", f"sqlite:///{tmp_path / 'app.db'}"
        )
        return
    base = database_server("postgresql")
    with FreshDatabase(base) as monitor_url, FreshDatabase(base) as app_url:
        yield from _world(tmp_path, monitor_url, app_url)


def _world(tmp_path: Path, monitor_url: str, app_url: str) -> Iterator[World]:
    key_file = tmp_path / "secret.key"
    create_key_file(key_file)
    source = SourceConfig(
        name="app-db", url=app_url, query=QUERY, app="growth", sync_interval=300.0, on_refresh=ON_REFRESH
    )
    config = Config(
        database=DatabaseConfig(url=monitor_url), security=SecurityConfig((key_file,)), sources=(source,)
    )
    holder: dict[str, float] = {"now": NOW}
    ctx = Context(config, clock=lambda: holder["now"])
    to_head(ctx.engine)
    with transaction(ctx.sessions) as s:
        add_app(
            s,
            ctx.vault,
            "growth",
            "INSPECTOR" + secrets.token_hex(8),
            kind="user_token",
            threads_app_id=None,
            now=NOW,
        )
    app_engine = create_engine(app_url)
    _create_accounts(app_engine)
    w = World(ctx, app_engine, app_url, key_file, monitor_url, source)
    ctx.clock = lambda: w.now
    try:
        yield w
    finally:
        app_engine.dispose()
        ctx.close()


# --- sync -----------------------------------------------------------------------------------------------


def test_first_sync_adds_tokens_with_labels(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    t1 = world.account(1, "growth")
    world.account(2, None)
    world.account(3, "ads", active=False)
    events = Recorder()

    report = world.sync(events=events)

    assert report.added == ["1", "2"] and report.changed == report.retired == [] and report.unchanged == 0
    tokens = world.tokens()
    assert sorted(tokens) == ["1", "2"]
    assert tokens["1"].labels == {"team": "growth"} and tokens["2"].labels == {}  # NULL: no label
    assert tokens["1"].source == "app-db" and tokens["1"].fingerprint == fingerprint(t1)
    assert tokens["1"].next_check_at == NOW
    assert world.ctx.vault.decrypt(tokens["1"].secret) == t1
    row = world.source_row()
    assert row is not None and row.tokens == 2 and row.last_error is None and row.last_success_at == NOW
    assert events.calls == [("app-db", "success")]
    world.assert_no_leak(caplog.text, repr(report), json.dumps(report.to_json()))

    again = world.sync()
    assert again.unchanged == 2 and not (again.added or again.changed or again.retired)


def test_updated_string_is_a_new_observation(world: World) -> None:
    world.account(1)
    world.account(2)
    world.sync()
    with transaction(world.ctx.sessions) as s:  # as if checked and refresh had trouble with the old string
        s.execute(
            update(Token).values(
                is_valid=True,
                observed_at=NOW,
                expires_at=NOW + 86400,
                next_check_at=NOW + 9e4,
                refresh_failures=3,
                refresh_error="refused",
                next_refresh_at=NOW + 9e4,
            )
        )
    new = world.token()
    world.app_sql("UPDATE threads_accounts SET access_token = :t WHERE account_id = 1", t=new)
    world.app_sql("UPDATE threads_accounts SET team = 'ads' WHERE account_id = 2")
    world.now = NOW + 600

    report = world.sync()

    assert report.changed == ["1", "2"] and report.unchanged == 0
    tokens = world.tokens()
    one, two = tokens["1"], tokens["2"]
    assert one.fingerprint == fingerprint(new) and world.ctx.vault.decrypt(one.secret) == new
    assert one.next_check_at == world.now and one.secret_changed_at == world.now
    assert one.refresh_failures == 0 and one.refresh_error is None and one.next_refresh_at is None
    assert (
        one.is_valid is True and one.expires_at == NOW + 86400
    )  # the observation is kept until the next check
    assert two.labels == {"team": "ads"} and two.next_check_at == NOW + 9e4  # labels only: no re-check


def test_deleted_row_retires_the_token_and_resolves_its_alerts(world: World) -> None:
    world.account(1)
    world.account(2)
    world.sync()
    with transaction(world.ctx.sessions) as s:
        token_id = s.scalar(select(Token.id).where(Token.name == "1"))
        s.execute(
            update(Token)
            .where(Token.id == token_id)
            .values(is_valid=False, last_result="invalid", invalid_reason="expired", observed_at=NOW)
        )
        s.add(Snapshot(token_id=token_id, observed_at=NOW, result="invalid", fingerprint="x", is_valid=False))
    from monitor.alerting.job import evaluate

    with transaction(world.ctx.sessions) as s:
        evaluate(s, world.ctx.config.alerts, world.now)
    assert _firing(world) == {"TokenInvalid/1"}
    world.app_sql("DELETE FROM threads_accounts WHERE account_id = 1")
    world.now += 300

    report = world.sync()

    assert report.retired == ["1"] and report.unchanged == 1
    assert sorted(world.tokens()) == ["2"]
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Snapshot)) == 0
    assert world.source_row().tokens == 1  # type: ignore[union-attr]
    with transaction(world.ctx.sessions) as s:
        evaluate(s, world.ctx.config.alerts, world.now)
    assert _firing(world) == set()


def _firing(world: World) -> set[str]:
    with world.ctx.sessions() as s:
        return set(s.scalars(select(Alert.key).where(Alert.status == "firing")))


BAD_SOURCES = {
    "missing table": "SELECT account_id AS name, access_token AS token FROM no_such_table",
    "bad sql": "SELEKT nonsense",
    "no token column": "SELECT account_id AS name, team FROM threads_accounts",
    "no name column": "SELECT access_token AS token FROM threads_accounts",
    "duplicate names": "SELECT 'same' AS name, access_token AS token FROM threads_accounts",
    "invalid token": "SELECT account_id AS name, access_token || ' x' AS token FROM threads_accounts",
    "reserved label": "SELECT account_id AS name, access_token AS token, team AS job FROM threads_accounts",
    "unknown app": "SELECT account_id AS name, access_token AS token, 'nope' AS app FROM threads_accounts",
}
EXPECTED = {
    "no token column": "no 'token' column",
    "no name column": "no 'name' column",
    "duplicate names": "rows 1 and 2 have the same name",
    "invalid token": "contains whitespace",
    "unknown app": "no app named 'nope'",
    "reserved label": "'job' cannot be a label",
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_failing_source_changes_nothing_and_records_the_error(
    world: World, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.account(1)
    world.account(2)
    world.sync()
    world.app_sql("DELETE FROM threads_accounts WHERE account_id = 2")  # a good sync would retire it
    world.account(3)  # ... and add this one
    before = world.state()
    bad = replace(world.source, query=BAD_SOURCES[case], app=None if case == "unknown app" else "growth")
    events = Recorder()
    world.now += 300

    with pytest.raises(SourceError) as raised:
        world.sync(bad, events=events)

    assert world.state() == before
    row = world.source_row()
    assert row is not None and row.last_error and row.last_sync_at == world.now and row.last_success_at == NOW
    assert row.last_error == raised.value.message
    if case in EXPECTED:
        assert EXPECTED[case] in row.last_error
    assert events.calls == [("app-db", "failure")]
    assert world.app_url not in row.last_error
    world.assert_no_leak(row.last_error, caplog.text, str(raised.value))
    from monitor.alerting.job import evaluate

    with transaction(world.ctx.sessions) as s:
        evaluate(s, world.ctx.config.alerts, world.now)
    assert "SourceFailing/source:app-db" in _firing(world)
    world.sync()  # the source is repaired: the error clears, SourceFailing resolves
    assert world.source_row().last_error is None  # type: ignore[union-attr]


def test_unreachable_source_never_shows_its_url(world: World, tmp_path: Path) -> None:
    url = "postgresql+psycopg://reader:s3cretPassw0rd@127.0.0.1:1/app"
    with pytest.raises(SourceError) as raised:
        world.sync(replace(world.source, url=url))
    assert "s3cretPassw0rd" not in str(raised.value) and url not in str(raised.value)
    assert "s3cretPassw0rd" not in (world.source_row().last_error or "")  # type: ignore[union-attr]


def test_hand_added_and_other_sources_tokens_are_untouched(world: World) -> None:
    with transaction(world.ctx.sessions) as s:
        add_tokens(s, world.ctx.vault, [NewToken("manual", "growth", world.token())], now=NOW)
        add_tokens(s, world.ctx.vault, [NewToken("crm-1", "growth", world.token())], now=NOW, source="crm")
    world.account(1)
    world.sync()
    world.app_sql("DELETE FROM threads_accounts")
    world.sync()
    assert sorted(world.tokens()) == ["crm-1", "manual"]

    for taken, owner in (("manual", "by hand"), ("crm-1", "by source 'crm'")):
        before = world.state()
        query = f"SELECT '{taken}' AS name, access_token AS token FROM threads_accounts"
        world.account(7)
        with pytest.raises(SourceError, match=f"{taken!r} is already registered {owner}"):
            world.sync(replace(world.source, query=query))
        assert world.state() == before
        world.app_sql("DELETE FROM threads_accounts")


def test_pending_write_back_keeps_the_refreshed_string(world: World) -> None:
    old = world.account(1)
    world.sync()
    refreshed = world.token()
    _refresh(world, "1", refreshed)

    world.now += 300
    report = world.sync()  # the source still has the old string: the refreshed one must not be lost
    assert report.changed == []
    assert world.ctx.vault.decrypt(world.tokens()["1"].secret) == refreshed

    # A token another job holds (a sweep checking it, a refresh) waits: the write-back leases, never blocks.
    with transaction(world.ctx.sessions) as s:
        s.execute(update(Token).values(lease_owner="a-sweep", lease_expires_at=world.now + 60))
    busy = write_back_pending(
        world.ctx.sessions, world.ctx.vault, {"app-db": world.source}, SourceEngines(), world.now
    )
    assert (busy.written, busy.failed) == (0, 0) and world.tokens()["1"].writeback_pending is True
    world.now += 61

    result = write_back_pending(
        world.ctx.sessions, world.ctx.vault, {"app-db": world.source}, SourceEngines(), world.now
    )

    assert (result.written, result.failed) == (1, 0)
    assert world.tokens()["1"].lease_owner is None
    assert (
        world.app_sql("SELECT access_token FROM threads_accounts WHERE account_id = 1").scalar() == refreshed
    )
    token = world.tokens()["1"]
    assert token.writeback_pending is False and token.writeback_error is None and token.refresh_error is None
    assert world.sync().unchanged == 1
    assert old != refreshed


def _refresh(world: World, name: str, value: str) -> None:
    """What the refresh job does to a source's token: store the new string, flag the write-back."""
    with transaction(world.ctx.sessions) as s:
        s.execute(
            update(Token)
            .where(Token.name == name)
            .values(
                secret=world.ctx.vault.encrypt(value), fingerprint=fingerprint(value), writeback_pending=True
            )
        )


def test_failing_write_back_is_kept_retried_and_alerted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.account(1)
    world.sync()
    refreshed = world.token()
    _refresh(world, "1", refreshed)
    broken = replace(world.source, on_refresh="UPDATE no_such_table SET t = :token WHERE n = :name")
    engines = SourceEngines()

    result = write_back_pending(world.ctx.sessions, world.ctx.vault, {"app-db": broken}, engines, world.now)

    assert (result.written, result.failed) == (1 - 1, 1)
    token = world.tokens()["1"]
    assert token.writeback_pending is True
    assert token.refresh_error is not None and token.refresh_error.startswith(
        "write-back to source app-db failed:"
    )
    assert token.writeback_error == token.refresh_error
    assert world.ctx.vault.decrypt(token.secret) == refreshed  # never lost
    world.assert_no_leak(token.refresh_error, caplog.text)
    from monitor.alerting.job import evaluate

    with transaction(world.ctx.sessions) as s:
        evaluate(s, world.ctx.config.alerts, world.now)
    assert any(k.startswith("TokenRefreshFailed") for k in _firing(world))

    gone = replace(world.source)  # the account left the application: no row to update is a failure too
    world.app_sql("UPDATE threads_accounts SET account_id = 99")
    assert (
        write_back_pending(world.ctx.sessions, world.ctx.vault, {"app-db": gone}, engines, world.now).failed
        == 1
    )
    world.app_sql("UPDATE threads_accounts SET account_id = 1")

    retried = write_back_pending(
        world.ctx.sessions, world.ctx.vault, {"app-db": world.source}, engines, world.now
    )
    assert retried.written == 1
    token = world.tokens()["1"]
    assert token.writeback_pending is False and token.refresh_error is None
    engines.close()


# --- the daemon component --------------------------------------------------------------------------------


def test_component_syncs_on_schedule_and_one_daemon_at_a_time(world: World) -> None:
    world.account(1)
    events = Recorder()
    ctx = world.ctx
    comp = SourcesComponent(
        ctx.sessions,
        ctx.vault,
        SourcesSettings.of(ctx.config),
        owner="daemon-a",
        clock=ctx.clock,
        events=events,
    )
    assert [j.name for j in comp.jobs()] == ["sources-sync", "sources-writeback"]

    comp.sync_due()  # first run at start
    assert sorted(world.tokens()) == ["1"] and events.calls == [("app-db", "success")]
    world.account(2)
    world.now += 100
    comp.sync_due()  # not due yet
    assert sorted(world.tokens()) == ["1"]
    world.now += 200
    assert claim(world.ctx.sessions, world.source, "daemon-b", world.now, force=True)
    comp.sync_due()  # due, but daemon-b holds the lease
    assert sorted(world.tokens()) == ["1"]
    world.now += 601  # daemon-b's lease expired (it crashed)
    comp.sync_due()
    assert sorted(world.tokens()) == ["1", "2"]

    second = replace(
        world.source,
        name="second",
        query="SELECT 'x-' || account_id AS name, access_token AS token FROM threads_accounts",
    )
    comp.reload(SourcesSettings(sources=(world.source, second)))
    comp.sync_due()
    assert sorted(world.tokens()) == ["1", "2", "x-1", "x-2"]

    # A source removed from the config is not "failing": its stored error is cleared (SourceFailing resolves).
    from monitor.db.models import Source

    with transaction(world.ctx.sessions) as s:
        s.execute(update(Source).where(Source.name == "second").values(last_error="boom"))
    comp.reload(SourcesSettings(sources=(world.source,)))
    comp.sync_due()
    with world.ctx.sessions() as s:
        assert s.scalar(select(Source.last_error).where(Source.name == "second")) is None
    comp.close()


# --- the command line ------------------------------------------------------------------------------------


def _config(world: World, tmp_path: Path, query: str = QUERY) -> Path:
    extra = (
        f'[[sources]]\nname = "app-db"\nurl = "{world.app_url}"\napp = "growth"\nquery = "{query}"\n'
        f'on_refresh = "{ON_REFRESH}"\n'
    )
    return write_config(tmp_path / "config.toml", world.monitor_url, world.key_file, extra)


def test_cli_sources_sync_and_list(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.account(1)
    world.account(2, "ads")
    path = str(_config(world, tmp_path))

    assert main(["--config", path, "sources", "sync"]) == 0
    out = capsys.readouterr().out
    assert "app-db: 2 added, 0 changed, 0 retired, 0 unchanged" in out and "added: 1, 2" in out

    world.app_sql("DELETE FROM threads_accounts WHERE account_id = 2")
    assert main(["--config", path, "sources", "sync", "app-db", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == [
        {
            "source": "app-db",
            "outcome": "success",
            "added": [],
            "changed": [],
            "retired": ["2"],
            "unchanged": 1,
        }
    ]

    assert main(["--config", path, "sources", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "app-db" and listed[0]["tokens"] == 1 and listed[0]["last_error"] is None

    monkeypatch.setenv("NEW_TOKEN", world.token())
    assert main(["--config", path, "tokens", "add", "1", "--app", "growth", "--token-env", "NEW_TOKEN"]) == 2
    assert main(["--config", path, "tokens", "remove", "1"]) == 2
    assert "belongs to source 'app-db'" in capsys.readouterr().err

    assert main(["--config", path, "status"]) == 0
    assert "app-db" in capsys.readouterr().out

    assert main(["--config", path, "sources", "sync", "nope"]) == 2
    bad = str(_config(world, tmp_path, query="SELECT account_id AS name FROM threads_accounts"))
    assert main(["--config", bad, "sources", "sync"]) == 1
    captured = capsys.readouterr()
    assert "app-db: FAILED, nothing changed: the query returns no 'token' column" in captured.out
    assert main(["--config", bad, "sources", "list"]) == 0
    captured2 = capsys.readouterr()
    assert "no 'token' column" in captured2.out
    world.assert_no_leak(out, json.dumps(data), json.dumps(listed), captured.out, captured.err, captured2.out)


# --- validation (pure) -----------------------------------------------------------------------------------


def test_validate_rows_turns_other_columns_into_string_labels() -> None:
    source = SourceConfig(name="s", url="sqlite://", query="-", app=None)
    rows = validate_rows(
        source,
        ["NAME", "token", "app", "tier", "since"],
        [(42, " tok-1 ", "growth", 3, None), ("b", b"tok-2", "growth", "gold", 1.5)],
    )
    assert [(r.name, r.app, r.token, dict(r.labels)) for r in rows] == [
        ("42", "growth", "tok-1", {"tier": "3"}),
        ("b", "growth", "tok-2", {"tier": "gold", "since": "1.5"}),
    ]
    with pytest.raises(SourceError, match="row 1 has no name"):
        validate_rows(source, ["name", "token", "app"], [(None, "t", "growth")])
    with pytest.raises(SourceError, match="row 1: the token is NULL"):
        validate_rows(source, ["name", "token", "app"], [("a", None, "growth")])
    with pytest.raises(SourceError, match="no 'app' column"):
        validate_rows(source, ["name", "token"], [])


# --- cost -------------------------------------------------------------------------------------------------


def test_many_rows_sync_in_batches(world: World) -> None:
    rows = [
        {"id": i, "token": f"THAA{i:08d}{'x' * 150}", "team": f"team-{i % 20}", "active": True}
        for i in range(ROWS)
    ]
    with world.app_engine.begin() as conn:
        conn.execute(text("INSERT INTO threads_accounts VALUES (:id, :token, :team, :active)"), rows)

    with statements() as first:
        report = world.sync()
    assert len(report.added) == ROWS

    churn = ROWS // 100
    world.app_sql(
        f"UPDATE threads_accounts SET access_token = access_token || 'y' WHERE account_id < {churn}"
    )
    world.app_sql(f"DELETE FROM threads_accounts WHERE account_id >= {ROWS - churn}")
    world.now += 300
    with statements() as second:
        report = world.sync()
    assert (len(report.changed), len(report.retired), report.unchanged) == (churn, churn, ROWS - 2 * churn)
    assert len(first) < SYNC_STATEMENTS and len(second) < SYNC_STATEMENTS, "set work, not a query per row"
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Token)) == ROWS - churn


def test_metrics_count_syncs_and_carry_no_token(world: World) -> None:
    from prometheus_client import generate_latest

    world.account(1)
    registry, events = build_metrics(metrics_inputs(world.ctx), version="test")
    world.sync(events=events)
    with pytest.raises(SourceError):
        world.sync(replace(world.source, query="SELECT 1 AS name"), events=events)
    assert (
        registry.get_sample_value(
            "threads_monitor_source_sync_total", {"source": "app-db", "outcome": "success"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "threads_monitor_source_sync_total", {"source": "app-db", "outcome": "failure"}
        )
        == 1
    )
    assert registry.get_sample_value("threads_monitor_source_tokens", {"source": "app-db"}) == 1
    world.assert_no_leak(generate_latest(registry).decode())


# --- a hostile or careless query -------------------------------------------------------------------------

WRITES = {
    "commit then delete": "COMMIT; DELETE FROM threads_accounts; "
    "SELECT account_id AS name, access_token AS token FROM threads_accounts",
    "delete after the select": "SELECT account_id AS name, access_token AS token FROM threads_accounts; "
    "DELETE FROM threads_accounts",
}


@pytest.mark.parametrize("case", sorted(WRITES))
def test_the_query_can_never_write_to_the_application_database(world: World, case: str) -> None:
    """The read-only guard once let a parameterless `COMMIT; DELETE ...; SELECT ...` run on PostgreSQL."""
    world.account(1)
    world.account(2)
    bad = replace(world.source, query=WRITES[case])
    with pytest.raises(SourceError, match="the query failed"):
        world.sync(bad)
    assert world.app_sql("SELECT COUNT(*) FROM threads_accounts").scalar() == 2
    assert world.tokens() == {}


def test_a_query_over_max_rows_is_refused_before_it_is_all_read(world: World) -> None:
    for i in range(5):
        world.account(i)
    with pytest.raises(SourceError, match=r"more than max_rows \(3\) rows"):
        world.sync(replace(world.source, max_rows=3))
    assert world.tokens() == {}
    assert len(world.sync(replace(world.source, max_rows=5)).added) == 5


def test_a_query_with_a_trailing_semicolon_still_works(world: World) -> None:
    world.account(1)
    report = world.sync(replace(world.source, query=QUERY + " ;  "))
    assert len(report.added) == 1


def test_a_refreshed_string_survives_a_source_without_on_refresh(world: World) -> None:
    """The application keeps the string the refresh replaced; the next sync must not bring it back."""
    source = replace(world.source, on_refresh=None)
    old = world.account(1)
    world.sync(source)
    with transaction(world.ctx.sessions) as s:  # the check that saw the old string recorded it
        token_id = s.scalar(select(Token.id).where(Token.name == "1"))
        s.add(
            Snapshot(token_id=token_id, observed_at=world.now, result="valid", fingerprint=fingerprint(old))
        )
    refreshed = world.token()
    with transaction(world.ctx.sessions) as s:  # what the refresh job stores without write-back
        s.execute(
            update(Token)
            .where(Token.name == "1")
            .values(secret=world.ctx.vault.encrypt(refreshed), fingerprint=fingerprint(refreshed))
        )
    world.now += 300
    assert world.sync(source).changed == []
    assert world.ctx.vault.decrypt(world.tokens()["1"].secret) == refreshed

    reauthorized = world.token()  # the user authorised the app again: a string the token never had
    world.app_sql("UPDATE threads_accounts SET access_token = :t WHERE account_id = 1", t=reauthorized)
    world.now += 300
    assert world.sync(source).changed == ["1"]
    assert world.ctx.vault.decrypt(world.tokens()["1"].secret) == reauthorized
