"""Alerts through the database to real receivers: evaluate, group, deliver, restart, and a real daemon."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from receivers import HttpReceiver, SmtpReceiver, all_text
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.job import AlertsComponent, AlertSettings, evaluate, exclusive
from monitor.config.load import AlertsConfig, Config, NotifierConfig, parse_config
from monitor.crypto import Vault, create_key_file
from monitor.db.migrate import upgrade
from monitor.db.models import Alert, AlertEventRow, Notification, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import NewToken, add_app, add_tokens, delete_tokens

DAY = 86400.0
T0 = 1_800_000_000.0
SECRET = "hook-secret-123"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_string(i: int) -> str:
    return f"THQWSECRETTOKEN{i:06d}xyz"


def make_db(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return make_sessionmaker(engine)


def add_fleet(sessions: sessionmaker[Session], n: int, now: float, **observed: Any) -> list[str]:
    """`n` tokens of app "growth", observed valid (plus `observed` columns); returns their names."""
    vault = Vault.from_keys([Fernet.generate_key()])
    names = [f"tok-{i:04d}" for i in range(n)]
    with transaction(sessions) as s:
        add_app(s, vault, "growth", "INSPECTOR-SECRET-abc", kind="user_token", threads_app_id="1", now=now)
        add_tokens(
            s,
            vault,
            [NewToken(n_, "growth", token_string(i), {"team": "core"}) for i, n_ in enumerate(names)],
            now=now,
        )
        values = {
            "is_valid": True,
            "last_result": "valid",
            "observed_at": now,
            "scopes": "threads_basic",
            "expires_at": now + 50 * DAY,
            "data_access_expires_at": now + 80 * DAY,
        }
        observe(s, names, now=now, **{**values, **observed})
    return names


def observe(s: Session, names: Sequence[str], *, now: float, **values: Any) -> None:
    """What a check that saw `values` writes, `updated_at` included (the incremental evaluation reads it)."""
    for i in range(0, len(names), 1000):
        chunk = list(names[i : i + 1000])
        s.execute(update(Token).where(Token.name.in_(chunk)).values(updated_at=now, **values))


def notifiers(hook: HttpReceiver, smtp: SmtpReceiver | None = None) -> tuple[NotifierConfig, ...]:
    out = [NotifierConfig("hooks", "webhook", settings={"url": hook.url("/hook"), "secret": SECRET})]
    if smtp is not None:
        settings = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "security": "none",
            "from": "monitor@example.com",
            "to": ["ops@example.com"],
        }
        out.append(NotifierConfig("mail", "email", settings=settings))
    return tuple(out)


def component(
    sessions: sessionmaker[Session],
    clock: Clock,
    notifier_cfgs: tuple[NotifierConfig, ...],
    owner: str = "test-1",
) -> AlertsComponent:
    config = Config(alerts=AlertsConfig(group_wait=30.0), notifiers=notifier_cfgs)
    return AlertsComponent(sessions, AlertSettings.of(config), owner=owner, clock=clock)


def rows(sessions: sessionmaker[Session], model: Any) -> list[Any]:
    with sessions() as s:
        return list(s.scalars(select(model)).all())


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


def test_500_tokens_crossing_together_make_one_message_per_notifier(
    sqlite_url: str, hook: HttpReceiver, tmp_path: Path
) -> None:
    clock = Clock()
    sessions = make_db(sqlite_url)
    names = add_fleet(sessions, 500, clock.now)
    with SmtpReceiver(tmp_path) as smtp:
        comp = component(sessions, clock, notifiers(hook, smtp))
        comp.tick()  # baseline only: nothing in trouble
        assert rows(sessions, AlertEventRow) == []
        with transaction(sessions) as s:
            observe(s, names, now=clock.now, expires_at=clock.now + 1.5 * DAY)
        clock.now += 10
        comp.tick()
        assert len(rows(sessions, AlertEventRow)) == 500 and hook.requests.items == []
        clock.now += 31
        comp.tick()
        (request,) = hook.wait_for(1)
        (mail,) = smtp.wait_for(1)
        comp.close()
    body = json.loads(request.body)
    assert len(body["alerts"]) == 500 and body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="TokenExpiring"}'
    assert body["commonLabels"] == {
        "alertname": "TokenExpiring",
        "app": "growth",
        "severity": "critical",
        "team": "core",
    }
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Threads-Monitor-Signature"] == expected
    assert "[FIRING:500] TokenExpiring" in mail.message["Subject"]
    everything = all_text([request.body, mail.raw, *(str(h) for h in request.headers.items())])
    for i in range(500):
        assert token_string(i) not in everything
    assert "INSPECTOR-SECRET" not in everything
    assert [n.status for n in rows(sessions, Notification)] == ["sent", "sent"]
    assert rows(sessions, AlertEventRow) == []


def test_restart_between_firing_and_delivery_loses_nothing_sends_nothing_twice(
    sqlite_url: str, hook: HttpReceiver
) -> None:
    clock = Clock()
    sessions = make_db(sqlite_url)
    (name,) = add_fleet(sessions, 1, clock.now, expires_at=T0 + DAY)
    first = component(sessions, clock, notifiers(hook))
    first.tick()  # fires: one pending event
    first.close()
    clock.now += 40
    hook.respond(503)
    second = component(sessions, clock, notifiers(hook), owner="test-2")  # "restart"
    second.tick()  # groups and tries once: 503
    assert len(hook.wait_for(1)) == 1
    second.close()
    (pending,) = rows(sessions, Notification)
    assert pending.status == "pending" and pending.attempts == 1 and pending.last_error == "HTTP 503"
    third = component(sessions, clock, notifiers(hook), owner="test-3")
    for _ in range(30):  # 30 minutes of ticks: no repeats, one delivery
        clock.now += 60
        third.tick()
        third.deliver()
    requests_ = hook.wait_for(2)
    third.close()
    assert len(requests_) == 2
    assert (
        requests_[0].headers["X-Threads-Monitor-Delivery"]
        == requests_[1].headers["X-Threads-Monitor-Delivery"]
    )
    (alert,) = rows(sessions, Alert)
    assert (alert.status, alert.alertname, alert.subject) == ("firing", "TokenExpiring", name)
    assert [n.status for n in rows(sessions, Notification)] == ["sent"]


def test_resolve_on_refresh_and_on_removal(sqlite_url: str, hook: HttpReceiver) -> None:
    clock = Clock()
    sessions = make_db(sqlite_url)
    names = add_fleet(sessions, 2, clock.now, expires_at=T0 + 5 * DAY)
    comp = component(sessions, clock, notifiers(hook))
    comp.tick()
    clock.now += 31
    comp.tick()
    assert len(json.loads(hook.wait_for(1)[0].body)["alerts"]) == 2
    with transaction(sessions) as s:
        observe(s, names[:1], now=clock.now, expires_at=T0 + 60 * DAY)  # refreshed
        delete_tokens(s, [s.scalar(select(Token.id).where(Token.name == names[1]))], now=clock.now)
    clock.now += 10
    comp.tick()
    clock.now += 31
    comp.tick()
    body = json.loads(hook.wait_for(2)[1].body)
    comp.close()
    assert body["status"] == "resolved"
    assert sorted(a["labels"]["token"] for a in body["alerts"]) == names
    assert all(a["status"] == "resolved" for a in body["alerts"])


def test_scope_baseline_then_scopes_lost(tmp_path: Path, sqlite_url: str) -> None:
    """The first valid check records the scopes; a later check without one of them fires TokenScopesLost
    (and losing every scope, `scopes: []`, too); re-granting resolves it."""
    from helpers_daemon import close_sweeper, make_fleet

    from monitor.simulator import Simulator

    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim)
        try:
            fleet.add_app("growth")
            (name,) = fleet.add_tokens("growth", 1, scopes=("threads_basic", "threads_content_publish"))
            sweeper = fleet.sweeper()

            def check_then_evaluate(at: float) -> list[tuple[str, str, str]]:
                fleet.make_due()
                sweeper.sweep()
                with exclusive(fleet.ctx.sessions, "alerts") as s:
                    evaluate(s, AlertsConfig(), at)
                with fleet.ctx.sessions() as s:
                    return [
                        (a.alertname, a.status, a.labels.get("scopes", "")) for a in s.scalars(select(Alert))
                    ]

            try:
                assert check_then_evaluate(T0) == []
                with fleet.ctx.sessions() as s:
                    assert s.scalar(select(Token.expected_scopes)) == "threads_basic threads_content_publish"
                sim.update_token(fleet.tokens[name], scopes=["threads_basic"])
                assert check_then_evaluate(T0 + 60) == [
                    ("TokenScopesLost", "firing", "threads_content_publish")
                ]
                sim.update_token(fleet.tokens[name], scopes=[])
                alerts = check_then_evaluate(T0 + 120)
                assert alerts == [("TokenScopesLost", "firing", "threads_basic, threads_content_publish")]
                sim.update_token(fleet.tokens[name], scopes=["threads_basic", "threads_content_publish"])
                assert check_then_evaluate(T0 + 180)[0][:2] == ("TokenScopesLost", "resolved")
            finally:
                close_sweeper(sweeper)
        finally:
            fleet.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from conftest import fresh_url

    yield from fresh_url(request.param, tmp_path)


def test_concurrent_evaluations_emit_each_transition_once(server_url: str) -> None:
    """Four daemons evaluating at once (PostgreSQL advisory lock; MariaDB GET_LOCK on a pinned connection)."""
    sessions = make_db(server_url)
    add_fleet(sessions, 50, T0, expires_at=T0 + DAY)
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        with exclusive(sessions, "alerts") as s:
            evaluate(s, AlertsConfig(), T0 + 1)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertEventRow)) == 50
        assert s.scalar(select(func.count()).select_from(Alert)) == 50


# --- end to end: a real daemon, the simulator, a webhook receiver ------------------------------------------


def test_daemon_sends_one_critical_token_expiring_webhook(tmp_path: Path, hook: HttpReceiver) -> None:
    from monitor.daemon.lifecycle import Daemon
    from monitor.simulator import Simulator

    key = tmp_path / "secret.key"
    create_key_file(key)
    with Simulator() as sim:
        sim.add_app("1", "SIM-INSPECTOR-xyz")
        sim.add_token("SIM-TOKEN-abcdef", app_id="1", expires_at=time.time() + DAY)
        config = parse_config({
            "database": {"url": f"sqlite:///{tmp_path / 'monitor.sqlite3'}"},
            "security": {"key_file": str(key)},
            "threads": {"base_url": sim.url},
            "schedule": {"sweep_interval": "1s"},
            "http": {"listen": "127.0.0.1:0"},
            "alerts": {"group_wait": "1s"},
            "notifiers": [{"name": "hooks", "type": "webhook", "url": hook.url("/hook"), "secret": SECRET}],
        })  # fmt: skip
        sessions = make_db(config.database.url)
        vault = Vault([key])
        with transaction(sessions) as s:
            add_app(
                s,
                vault,
                "growth",
                "SIM-INSPECTOR-xyz",
                kind="user_token",
                threads_app_id="1",
                now=time.time(),
            )
            add_tokens(s, vault, [NewToken("acme-main", "growth", "SIM-TOKEN-abcdef")], now=time.time())
        daemon = Daemon(config)
        daemon.start()
        try:
            (request,) = hook.wait_for(1, timeout=30)
        finally:
            daemon.stop()
    body = json.loads(request.body)
    (alert,) = body["alerts"]
    assert alert["labels"]["alertname"] == "TokenExpiring" and alert["labels"]["severity"] == "critical"
    assert alert["labels"]["token"] == "acme-main"
    assert "expires in" in alert["annotations"]["summary"]
    assert "SIM-TOKEN-abcdef" not in request.body.decode()


# --- notify test ---------------------------------------------------------------------------------------


def test_notify_test_command(tmp_path: Path, hook: HttpReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import write_config

    from monitor.cli import main

    extra = (
        f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/ok")}"\nsecret = "{SECRET}"\n\n'
        f'[[notifiers]]\nname = "broken"\ntype = "webhook"\nurl = "{hook.url("/broken")}"\n'
    )
    db = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    config = write_config(tmp_path / "config.toml", db, tmp_path / "k", extra)
    assert main(["--config", str(config), "notify", "test", "--notifier", "hooks"]) == 0
    (request,) = hook.wait_for(1)
    alert = json.loads(request.body)["alerts"][0]
    assert alert["labels"]["alertname"] == "TestNotification" and alert["labels"]["token"] == "example-token"
    assert "hooks (webhook): sent" in capsys.readouterr().out
    hook.respond(200)
    hook.respond(404, body="no such hook")
    assert main(["--config", str(config), "notify", "test"]) == 1
    out = capsys.readouterr().out
    assert "hooks (webhook): sent" in out and "broken (webhook): failed (permanent): HTTP 404" in out
    assert "/broken" not in out
    assert main(["--config", str(config), "notify", "test", "--notifier", "nope"]) == 2


def test_an_expiring_token_that_turns_invalid_gets_no_all_clear(sqlite_url: str) -> None:
    """TokenExpiring ends silently when TokenInvalid takes over: no 'no longer close to expiry' message."""
    sessions = make_db(sqlite_url)
    (name,) = add_fleet(sessions, 1, T0, expires_at=T0 + DAY)
    with exclusive(sessions, "alerts") as s:
        evaluate(s, AlertsConfig(), T0)
    with transaction(sessions) as s:
        observe(s, [name], now=T0 + 30, is_valid=False, invalid_reason="expired", last_result="invalid")
    with exclusive(sessions, "alerts") as s:
        evaluate(s, AlertsConfig(), T0 + 60)
    with sessions() as s:
        events = [json.loads(p) for p in s.scalars(select(AlertEventRow.payload).order_by(AlertEventRow.id))]
        statuses = dict(s.execute(select(Alert.alertname, Alert.status)).all())
    assert [(e["alertname"], e["status"]) for e in events] == [
        ("TokenExpiring", "firing"),
        ("TokenInvalid", "firing"),
    ]
    assert statuses == {"TokenExpiring": "resolved", "TokenInvalid": "firing"}
