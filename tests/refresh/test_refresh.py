"""Automatic refresh: the pure rules, then the job against the simulator on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from helpers_db import to_head
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from support import wait_until

from monitor.check.observe import Cadence
from monitor.check.sweep import Sweeper
from monitor.cli import main as cli_main
from monitor.config.load import Config, RefreshConfig, parse_config
from monitor.context import Context
from monitor.crypto import create_key_file, fingerprint
from monitor.db.models import Alert, App, Token
from monitor.db.session import transaction
from monitor.graph.client import GraphClient, RefreshResult, Verdict, classify_refresh
from monitor.refresh.job import Refresher
from monitor.refresh.rules import (
    MAX_BACKOFF,
    MIN_BACKOFF,
    PERMANENT_HOLD,
    Outcome,
    RefreshFacts,
    backoff,
    classify,
    eligible,
    error_text,
    moved,
    next_attempt,
)
from monitor.refresh.settings import RefreshSettings
from monitor.refresh.store import Spool
from monitor.registry import NewToken, add_app, add_tokens, set_auto_refresh
from monitor.simulator import REFRESH, Simulator
from monitor.tokenstore import current_token

DAY = 86400.0
T0 = 1_800_000_000.0

# --- pure rules --------------------------------------------------------------------------------------

CFG = RefreshConfig(enabled=True, before=10 * DAY, min_age=DAY)
DUE = RefreshFacts(True, True, T0 + 5 * DAY, T0 - 55 * DAY, T0 - 55 * DAY, None, False)


@pytest.mark.parametrize(
    ("change", "cfg", "expected"),
    [
        ({}, CFG, True),
        ({}, RefreshConfig(enabled=False), False),
        ({"auto_refresh": False}, CFG, False),
        ({"is_valid": False}, CFG, False),
        ({"is_valid": None}, CFG, False),
        ({"expires_at": None}, CFG, False),  # never expires / unknown
        ({"expires_at": T0 + 11 * DAY}, CFG, False),  # not yet within `before`
        ({"expires_at": T0}, CFG, False),  # expired
        ({"expires_at": T0 - 1}, CFG, False),
        ({"issued_at": T0 - 12 * 3600}, CFG, False),  # younger than 24 h
        ({"issued_at": None, "secret_changed_at": T0 - 3600}, CFG, False),  # falls back to secret_changed_at
        ({"issued_at": None, "secret_changed_at": T0 - 2 * DAY}, CFG, True),
        ({"next_refresh_at": T0 + 1}, CFG, False),  # backing off
        ({"next_refresh_at": T0}, CFG, True),
        ({"writeback_pending": True}, CFG, False),
    ],
)
def test_eligible(change: dict[str, Any], cfg: RefreshConfig, expected: bool) -> None:
    facts = RefreshFacts(**{**DUE.__dict__, **change})
    assert eligible(facts, cfg, T0) is expected


def test_a_recent_refresh_holds_the_next_one_for_min_age() -> None:
    """Even when the API still reports the old issued_at and expiry, one refresh per min_age at most."""
    cfg = RefreshConfig()
    just = RefreshFacts(**{**DUE.__dict__, "last_refresh_at": T0 - 60})
    assert eligible(DUE, cfg, T0) and not eligible(just, cfg, T0)
    assert eligible(just, cfg, T0 - 60 + cfg.min_age + 1)


def test_a_refresh_moves_the_expiry_or_it_did_not_work() -> None:
    assert moved(T0 + 5 * DAY, T0 + 60 * DAY)
    assert not moved(T0 + 5 * DAY, T0 + 5 * DAY) and not moved(T0 + 5 * DAY, T0 + 5 * DAY + 60)
    assert moved(None, T0) and moved(T0, None)  # nothing to compare: no verdict


def test_backoff_doubles_from_5_minutes_to_6_hours_and_jitter_only_shortens() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [300.0, 600.0, 1200.0]
    assert backoff(100) == MAX_BACKOFF
    assert all(
        MIN_BACKOFF * 0.8 <= backoff(n, r) <= backoff(n) for n in range(1, 12) for r in (0.0, 0.5, 0.999)
    )
    assert backoff(3, 0.5) < backoff(3, 0.0)


def _answer(status: int, body: dict[str, Any], retry_after: float | None = None) -> RefreshResult:
    return classify_refresh(status, json.dumps(body).encode(), None, retry_after, ("THAAsecret",))


def _err(code: int, subcode: int | None = None, message: str = "x") -> dict[str, Any]:
    e: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        e["error_subcode"] = subcode
    return {"error": e}


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (_answer(200, {"access_token": "THAAnew", "expires_in": 5184000}), Outcome.REFRESHED),
        (_answer(500, _err(1)), Outcome.RETRYABLE),
        (_answer(400, _err(4)), Outcome.RETRYABLE),  # throttled
        (_answer(400, _err(2)), Outcome.RETRYABLE),  # transient
        (_answer(200, {"unexpected": True}), Outcome.RETRYABLE),  # malformed
        (
            RefreshResult(False, None, None, Verdict.ERROR, "timeout", None, None, None, None),
            Outcome.RETRYABLE,
        ),
        (_answer(400, _err(190, 463)), Outcome.PERMANENT),  # expired
        (_answer(400, _err(190, 466)), Outcome.PERMANENT),  # revoked
        (_answer(400, _err(190, 460)), Outcome.PERMANENT),  # password changed
        (_answer(400, _err(190, None, "must be at least 24 hours old")), Outcome.PERMANENT),  # too young
        (_answer(400, _err(10)), Outcome.PERMANENT),  # threads_basic missing
    ],
)
def test_classify(result: RefreshResult, outcome: Outcome) -> None:
    assert classify(result) is outcome


def test_next_attempt_and_error_text() -> None:
    throttled = _answer(400, _err(4), retry_after=None)
    assert next_attempt(Outcome.RETRYABLE, 1, None, T0, 0.0) == T0 + 300
    assert next_attempt(Outcome.RETRYABLE, 1, 3600.0, T0, 0.0) == T0 + 3600  # Retry-After wins when longer
    assert next_attempt(Outcome.PERMANENT, 1, None, T0, 0.0) == T0 + PERMANENT_HOLD
    revoked = _answer(400, _err(190, 466, "session invalidated for THAAsecret"))
    assert error_text(revoked).startswith("refresh invalid: revoked: code 190/466")
    assert "THAAsecret" not in error_text(revoked)
    assert error_text(throttled).startswith("refresh throttled")


# --- the job against the simulator -------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def refresh(self, outcome: str) -> None:
        self.counts[outcome] += 1


@dataclass
class Env:
    sim: Simulator
    config: Config
    ctx: Context
    clock: Clock
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)  # name -> the string registered at first
    events: Events = field(default_factory=Events)
    closers: list[Any] = field(default_factory=list)

    def add(self, name: str, *, auto: bool = True, left: float = 5 * DAY, age: float = 55 * DAY) -> str:
        token = f"THAA-{name}-initial-secret"
        now = self.clock()
        self.sim.add_token(token, app_id="1", issued_at=now - age, expires_at=now + left)
        with transaction(self.ctx.sessions) as s:
            add_tokens(s, self.ctx.vault, [NewToken(name, "growth", token, auto_refresh=auto)], now=now)
        self.tokens[name] = token
        return token

    def client(self, retries: int = 0) -> GraphClient:
        client = GraphClient(base_url=self.sim.url, timeout=5.0, retries=retries, backoff=0.01)
        self.closers.append(client)
        return client

    def sweeper(self, owner: str = "sweep") -> Sweeper:
        sweeper = Sweeper(
            sessions=self.ctx.sessions,
            vault=self.ctx.vault,
            client=self.client(),
            cadence=Cadence(),
            owner=owner,
            clock=self.clock,
            rand=lambda: 0.0,
        )
        self.closers.append(sweeper)
        # Sweeper.check_now() only knows the inspector credentials a sweep has loaded before (KeyError
        # otherwise); in a daemon the sweep runs first. Until check_now loads them itself, load them here.
        with self.ctx.sessions() as s:
            sweeper.apps.load(s, set(s.scalars(select(App.id))))
        return sweeper

    def refresher(self, owner: str = "daemon-a", ctx: Context | None = None) -> Refresher:
        ctx = ctx or self.ctx
        return Refresher(
            sessions=ctx.sessions,
            vault=ctx.vault,
            client=self.client(),
            settings=RefreshSettings.of(self.config),
            owner=owner,
            check_now=self.sweeper(owner).check_now,
            events=self.events,
            clock=self.clock,
            rand=lambda: 0.0,
            spool=Spool(self.tmp / "spool", ctx.vault),
        )

    def row(self, name: str) -> Token:
        with self.ctx.sessions() as s:
            token = s.scalar(select(Token).where(Token.name == name))
            assert token is not None
            return token

    def refreshes(self, name: str) -> int:
        return self.sim.calls(self.tokens[name], REFRESH)


def make_config(tmp: Path, db_url: str, sim_url: str, **refresh: Any) -> tuple[Config, Path]:
    key = tmp / "secret.key"
    create_key_file(key)
    data: dict[str, dict[str, Any]] = {
        "database": {"url": db_url}, "security": {"key_file": str(key)},
        "threads": {"base_url": sim_url, "retries": 0, "max_calls_per_hour": 1_000_000},
        "schedule": {"sweep_interval": "1s", "lease": "60s"}, "http": {"listen": "127.0.0.1:0"},
        "refresh": {"before": "10d", **refresh},
    }  # fmt: skip
    path = tmp / "config.toml"
    path.write_text(_toml(data), encoding="utf-8")
    return parse_config(data, path=path), path


def _toml(data: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        return (
            ("true" if v else "false") if isinstance(v, bool) else str(v) if isinstance(v, int) else f'"{v}"'
        )

    return "".join(f"[{k}]\n" + "".join(f"{n} = {value(v)}\n" for n, v in t.items()) for k, t in data.items())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    clock = Clock(T0)
    with Simulator(clock=clock) as s:
        s.add_app("1", "THAA-inspector-secret", application="Growth")
        yield s


def _env(tmp_path: Path, url: str, sim: Simulator, **refresh: Any) -> Iterator[Env]:
    config, _ = make_config(tmp_path, url, sim.url, **refresh)
    clock: Clock = sim.clock  # type: ignore[assignment]
    ctx = Context(config, clock=clock)
    to_head(ctx.engine)
    with transaction(ctx.sessions) as s:
        add_app(
            s, ctx.vault, "growth", "THAA-inspector-secret", kind="user_token", threads_app_id="1", now=T0
        )
    env = Env(sim, config, ctx, clock, tmp_path)
    yield env
    for c in env.closers:
        c.close()
    ctx.close()


@pytest.fixture
def env(tmp_path: Path, db_url: str, sim: Simulator) -> Iterator[Env]:
    yield from _env(tmp_path, db_url, sim)


@pytest.fixture
def senv(tmp_path: Path, sqlite_url: str, sim: Simulator) -> Iterator[Env]:
    yield from _env(tmp_path, sqlite_url, sim)


def alert_status(env: Env, alertname: str, token: str) -> str | None:
    from monitor.alerting.job import evaluate

    with transaction(env.ctx.sessions) as s:
        evaluate(s, env.config.alerts, env.clock())
    with env.ctx.sessions() as s:
        return s.scalar(select(Alert.status).where(Alert.key == f"{alertname}/{token}"))


def no_secrets(text: str, env: Env) -> None:
    with env.ctx.sessions() as s:
        current = [env.ctx.vault.decrypt(t) for t in s.scalars(select(Token.secret))]
    for secret in [*env.tokens.values(), *current, "THAA-inspector-secret"]:
        assert secret not in text


def test_refreshes_a_token_near_expiry_once_and_inspects_the_new_string(
    env: Env, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    env.add("due")
    env.add("young", age=12 * 3600)
    env.add("expired", left=-3600)
    env.add("flag-off", auto=False)
    env.add("far", left=30 * DAY)
    sweeper = env.sweeper()
    assert sweeper.sweep().inspected == 5
    assert alert_status(env, "TokenExpiring", "due") == "firing"

    refresher = env.refresher()
    assert refresher.tick() == 1
    assert {n: env.refreshes(n) for n in env.tokens} == {
        "due": 1,
        "young": 0,
        "expired": 0,
        "flag-off": 0,
        "far": 0,
    }
    row, new = env.row("due"), current_token("due", context=env.ctx)
    assert new != env.tokens["due"] and row.fingerprint == fingerprint(new)
    assert row.last_refresh_at == T0 and row.refresh_error is None and row.refresh_failures == 0
    assert row.expires_at == pytest.approx(T0 + 60 * DAY, abs=1)  # from the inspection of the new string
    assert env.sim.calls(new, "debug_token") == 1 and row.last_check_at == T0 and row.lease_owner is None
    assert env.events.counts == {"refreshed": 1}
    assert alert_status(env, "TokenExpiring", "due") == "resolved"

    env.clock.now += 2 * DAY  # the young token is old enough now; the refreshed one is 58 days from expiry
    assert refresher.tick() == 1
    assert {n: env.refreshes(n) for n in env.tokens} == {
        "due": 1,
        "young": 1,
        "expired": 0,
        "flag-off": 0,
        "far": 0,
    }
    no_secrets(caplog.text + "".join(capsys.readouterr()), env)


def test_documented_read_paths_return_the_refreshed_string(
    tmp_path: Path, senv: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    senv.add("due")
    senv.sweeper().sweep()
    senv.refresher().tick()
    new = current_token("due", context=senv.ctx)
    assert new != senv.tokens["due"]
    assert current_token("due", config_path=tmp_path / "config.toml") == new
    # A script reads it through a pipe: the string alone, no warning.
    command = [sys.executable, "-m", "monitor", "--config", str(tmp_path / "config.toml"), "tokens", "export"]
    piped = subprocess.run([*command, "due"], capture_output=True, text=True, timeout=60, check=True)
    assert (piped.stdout, piped.stderr) == (new + "\n", "")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert cli_main(["--config", str(tmp_path / "config.toml"), "tokens", "export", "due"]) == 0
    out, err = capsys.readouterr()
    assert out == new + "\n" and "warning" in err and new not in err


@pytest.mark.parametrize("fault", [{"kind": "http_error", "status": 500}, {"kind": "throttle"}])
def test_a_failing_refresh_sets_the_error_once_and_backs_off(senv: Env, fault: dict[str, Any]) -> None:
    env = senv
    token = env.add("due")
    env.sweeper().sweep()
    params = {k: v for k, v in fault.items() if k != "kind"}
    env.sim.set_fault(fault["kind"], token=token, endpoint=REFRESH, **params)
    refresher = env.refresher()
    assert refresher.tick() == 0
    row = env.row("due")
    assert env.refreshes("due") == 1 and row.refresh_failures == 1 and row.refresh_error
    assert (
        row.next_refresh_at == T0 + 300 and row.fingerprint == fingerprint(token) and row.lease_owner is None
    )
    assert alert_status(env, "TokenRefreshFailed", "due") == "firing"
    env.clock.now = T0 + 299
    refresher.tick()
    assert env.refreshes("due") == 1  # no second call before next_refresh_at
    env.clock.now = T0 + 300
    refresher.tick()
    row = env.row("due")
    assert env.refreshes("due") == 2 and row.refresh_failures == 2 and row.next_refresh_at == T0 + 300 + 600
    assert env.events.counts == {"failed": 2}

    env.sim.clear_faults()
    env.clock.now = T0 + 900
    assert refresher.tick() == 1
    row = env.row("due")
    assert row.refresh_error is None and row.refresh_failures == 0 and row.next_refresh_at is None
    assert alert_status(env, "TokenRefreshFailed", "due") == "resolved"
    with env.ctx.sessions() as s:
        keys = s.scalars(select(Alert.key).where(Alert.alertname == "TokenRefreshFailed")).all()
    assert keys == ["TokenRefreshFailed/due"]  # one alert for the whole episode


def test_a_refused_refresh_is_not_retried_until_the_flag_is_switched(senv: Env) -> None:
    env = senv
    token = env.add("due")
    env.sweeper().sweep()
    env.sim.update_token(token, state="revoked")  # after the inspection: stored as valid
    refresher = env.refresher()
    refresher.tick()
    row = env.row("due")
    assert row.refresh_error and "revoked" in row.refresh_error and row.next_refresh_at == T0 + PERMANENT_HOLD
    env.clock.now += 4 * DAY
    refresher.tick()
    assert env.refreshes("due") == 1  # never hammered
    with transaction(env.ctx.sessions) as s:
        set_auto_refresh(s, "due", True, now=env.clock())
    assert env.row("due").refresh_error is None  # switching resets the refresh state: the alert resolves


class FailWrites:
    """Make the next `n` writes of a refreshed string fail like a database outage."""

    def __init__(self, env: Env, n: int) -> None:
        self.left = n
        event.listen(env.ctx.engine, "before_cursor_execute", self)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.left and statement.lstrip().upper().startswith("UPDATE TOKENS SET SECRET"):
            self.left -= 1
            raise OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))


def test_a_database_failure_after_a_refresh_loses_nothing(
    senv: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env = senv
    caplog.set_level(logging.DEBUG)
    env.add("a", left=4 * DAY)
    env.add("b", left=5 * DAY)
    env.sweeper().sweep()
    FailWrites(env, 2)
    # One worker, so that "b is not refreshed while a waits" is deterministic.
    env.config = replace(env.config, threads=replace(env.config.threads, concurrency=1))
    refresher = env.refresher()
    assert refresher.tick() == 0
    assert env.sim.calls(endpoint=REFRESH) == 1 and env.refreshes("a") == 1  # b waits until a is stored
    assert list(refresher.pending) == [env.row("a").id] and "THAA" not in repr(refresher.pending)
    assert len(list((env.tmp / "spool").glob("*.spool"))) == 1
    assert current_token("a", context=env.ctx) == env.tokens["a"]
    refresher.tick()  # the retry fails too: still nothing else is refreshed
    assert env.sim.calls(endpoint=REFRESH) == 1 and refresher.pending

    refresher.tick()
    assert not refresher.pending and not list((env.tmp / "spool").glob("*.spool"))
    new_a = current_token("a", context=env.ctx)
    assert new_a != env.tokens["a"] and env.sim.token_state(new_a)["expires_at"] == T0 + 60 * DAY
    assert env.refreshes("a") == 1 and env.refreshes("b") == 1 and env.sim.calls(endpoint=REFRESH) == 2
    assert env.events.counts == {"refreshed": 2}
    no_secrets(caplog.text, env)


def test_a_crash_during_the_outage_is_recovered_from_the_spool(senv: Env) -> None:
    env = senv
    env.add("a")
    env.sweeper().sweep()
    FailWrites(env, 1)
    crashed = env.refresher("daemon-a")
    crashed.tick()
    assert crashed.pending and env.refreshes("a") == 1
    restarted = env.refresher("daemon-b")  # a new process: nothing in memory, the spool on disk
    assert list(restarted.pending) == list(crashed.pending)
    restarted.tick()
    new = current_token("a", context=env.ctx)
    assert new != env.tokens["a"] and env.sim.token_state(new)["state"] == "valid"
    assert env.refreshes("a") == 1 and not list((env.tmp / "spool").glob("*.spool"))


def test_two_daemons_on_postgres_refresh_500_tokens_each_exactly_once(
    tmp_path: Path, postgres_url: str, sim: Simulator
) -> None:
    gen = _env(tmp_path, postgres_url, sim)
    env = next(gen)
    names = [f"t{i:03d}" for i in range(500)]
    rows = []
    for name in names:
        token = f"THAA-{name}-initial-secret"
        sim.add_token(token, app_id="1", issued_at=T0 - 55 * DAY, expires_at=T0 + 5 * DAY)
        env.tokens[name] = token
        rows.append(NewToken(name, "growth", token, auto_refresh=True))
    with transaction(env.ctx.sessions) as s:
        add_tokens(s, env.ctx.vault, rows, now=T0 - 55 * DAY)
        # As the last inspection left them (a sweep of 500 tokens would only slow the test down).
        s.execute(
            update(Token).values(
                is_valid=True, expires_at=T0 + 5 * DAY, issued_at=T0 - 55 * DAY, next_check_at=T0 + DAY
            )
        )
    other = Context(env.config, clock=env.clock)  # the second daemon: its own engine and pool
    daemons = [env.refresher("host-a:1:aaaa"), env.refresher("host-b:2:bbbb", ctx=other)]
    done: list[int] = []
    barrier = threading.Barrier(2)

    def run(r: Refresher) -> None:
        barrier.wait()
        done.append(r.tick())

    threads = [threading.Thread(target=run, args=(d,)) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert sum(done) == 500, (
            done
        )  # how the two split the work is scheduling; exactly once is the contract
        assert Counter(env.refreshes(n) for n in names) == {1: 500}
        with env.ctx.sessions() as s:
            stored = {n: fp for n, fp in s.execute(select(Token.name, Token.fingerprint))}
            leased = s.scalar(select(Token.id).where(Token.lease_owner.is_not(None)))
        assert all(stored[n] != fingerprint(env.tokens[n]) for n in names) and leased is None
        assert env.sim.calls(endpoint=REFRESH) == 500
    finally:
        other.close()
        next(gen, None)


def test_the_daemon_refreshes_with_its_refresh_component(tmp_path: Path) -> None:
    from monitor.daemon.lifecycle import Daemon

    with Simulator() as sim:
        sim.add_app("1", "THAA-inspector-secret")
        now = time.time()
        sim.add_token("THAA-daemon-initial", app_id="1", issued_at=now - 55 * DAY, expires_at=now + 5 * DAY)
        config, _ = make_config(tmp_path, f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim.url)
        ctx = Context(config)
        to_head(ctx.engine)
        with transaction(ctx.sessions) as s:
            add_app(
                s,
                ctx.vault,
                "growth",
                "THAA-inspector-secret",
                kind="user_token",
                threads_app_id="1",
                now=now,
            )
            add_tokens(
                s, ctx.vault, [NewToken("acme", "growth", "THAA-daemon-initial", auto_refresh=True)], now=now
            )
        daemon = Daemon(config)
        daemon.start()
        try:
            wait_until(
                lambda: current_token("acme", context=ctx) != "THAA-daemon-initial",
                30,
                "the daemon to refresh the token",
            )
        finally:
            daemon.stop()
        new = current_token("acme", context=ctx)
        assert sim.calls("THAA-daemon-initial", REFRESH) == 1 and sim.token_state(new)["state"] == "valid"
        if daemon.registry is not None:
            assert (
                daemon.registry.get_sample_value("threads_monitor_refreshes_total", {"outcome": "refreshed"})
                == 1
            )
        ctx.close()


def test_the_spool_lives_where_the_service_can_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not next to the key: under systemd the key comes from the read-only $CREDENTIALS_DIRECTORY."""
    from monitor.config.load import parse_config
    from monitor.refresh.spooldir import spool_directory

    def cfg(url: str) -> Config:
        key = str(tmp_path / "creds" / "k")
        return parse_config({"database": {"url": url}, "security": {"key_file": key}})

    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert spool_directory(cfg(f"sqlite:///{tmp_path}/state/m.sqlite3")) == tmp_path / "state"
    assert spool_directory(cfg("postgresql+psycopg://u@h/db")) == tmp_path / "creds"
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/var/lib/ttm:{tmp_path}/other")
    assert spool_directory(cfg("postgresql+psycopg://u@h/db")) == tmp_path / "var/lib/ttm"
