"""Every Meta token kind, end to end against the simulator (SPEC 16): inspection, state, alerts, refresh.

One app per platform on the simulator, the monitor's GraphClient pointed at each platform's own prefix (as
`[platforms.*] base_url` would), the real Sweeper, alert evaluation and Refresher, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.alerting.evaluate import evaluate
from monitor.check.observe import Cadence
from monitor.check.sweep import Sweeper
from monitor.config.load import Config, parse_config
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.db import migrate
from monitor.db.models import Alert, App, Token
from monitor.db.session import transaction
from monitor.graph.client import GraphClient
from monitor.notify.base import AlertEvent
from monitor.notify.text import description, phrase
from monitor.refresh.job import Refresher
from monitor.refresh.settings import RefreshSettings
from monitor.refresh.store import Spool
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator import EXCHANGE, REFRESH, Simulator
from monitor.tokenstore import current_token

DAY = 86400.0
T0 = 1_800_000_000.0
APPS = {  # platform -> (monitor app name, simulator app id, app secret)
    "threads": ("growth", "1", "th-secret"),
    "facebook": ("pages", "2", "fb-secret"),
    "instagram": ("insta", "3", "ig-secret"),
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    sim: Simulator
    config: Config
    ctx: Context
    clock: Clock
    tmp: Path
    strings: dict[str, str] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)

    def add(self, name: str, platform: str, *, auto: bool = True, **fields: Any) -> str:
        app, app_id, _ = APPS[platform]
        token = f"{platform[:2].upper()}AA-{name}-initial"
        self.sim.add_token(token, app_id=app_id, **fields)
        with transaction(self.ctx.sessions) as s:
            add_tokens(s, self.ctx.vault, [NewToken(name, app, token, auto_refresh=auto)], now=self.clock())
        self.strings[name] = token
        return token

    def client(self) -> GraphClient:
        hosts = {p: (self.sim.base_url(p), v) for p, v in (("threads", "v1.0"), ("facebook", "v25.0"))}
        hosts["instagram"] = (self.sim.base_url("instagram"), "v25.0")
        client = GraphClient(hosts=hosts, timeout=5.0, retries=0, backoff=0.01)
        self.closers.append(client)
        return client

    def sweeper(self) -> Sweeper:
        sweeper = Sweeper(
            sessions=self.ctx.sessions, vault=self.ctx.vault, client=self.client(), cadence=Cadence(),
            owner="sweep", clock=self.clock, rand=lambda: 0.0,
        )  # fmt: skip
        self.closers.append(sweeper)
        with self.ctx.sessions() as s:
            sweeper.apps.load(s, set(s.scalars(select(App.id))))
        return sweeper

    def refresher(self) -> Refresher:
        return Refresher(
            sessions=self.ctx.sessions, vault=self.ctx.vault, client=self.client(),
            settings=RefreshSettings.of(self.config),
            owner="daemon", check_now=self.sweeper().check_now, clock=self.clock, rand=lambda: 0.0,
            spool=Spool(self.tmp / "spool", self.ctx.vault),
        )  # fmt: skip

    def row(self, name: str) -> Token:
        with self.ctx.sessions() as s:
            token = s.scalar(select(Token).where(Token.name == name))
            assert token is not None
            return token

    def alerts(self, name: str) -> dict[str, Alert]:
        with transaction(self.ctx.sessions) as s:
            evaluate(s, self.config.alerts, self.clock())
        with self.ctx.sessions() as s:
            rows = s.scalars(select(Alert).where(Alert.subject == name, Alert.status == "firing")).all()
            return {a.alertname: a for a in rows}


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    clock = Clock(T0)
    key = tmp_path / "secret.key"
    create_key_file(key)
    data = {"database": {"url": db_url}, "security": {"key_file": str(key)}, "refresh": {"before": "10d"}}
    config = parse_config(data, path=tmp_path / "config.toml")
    with Simulator(clock=clock) as sim:
        ctx = Context(config, clock=clock)
        migrate.upgrade(ctx.engine)
        with transaction(ctx.sessions) as s:
            for platform, (name, app_id, secret) in APPS.items():
                sim.add_app(app_id, platform=platform, app_secret=secret, application=name.title())
                inspector = f"TH|{app_id}|{secret}" if platform == "threads" else f"{app_id}|{secret}"
                add_app(s, ctx.vault, name, inspector, kind="app_token", threads_app_id=app_id, now=T0,
                        platform=platform)  # fmt: skip
        w = World(sim, config, ctx, clock, tmp_path)
        yield w
        for c in w.closers:
            c.close()
        ctx.close()


def event_of(alert: Alert) -> AlertEvent:
    return AlertEvent(
        alert.alertname, "firing", alert.severity, dict(alert.labels), dict(alert.annotations),
        alert.started_at, None, alert.fingerprint, at=alert.at,
    )  # fmt: skip


def test_a_never_expiring_page_token_alerts_on_data_access_only_and_is_never_refreshed(world: World) -> None:
    token = world.add("page", "facebook", type="PAGE", data_access_expires_at=T0 + 5 * DAY)
    world.add("system-forever", "facebook", type="SYSTEM_USER")  # expires_at 0: permanent
    assert world.sweeper().sweep().inspected == 2
    row = world.row("page")
    assert (row.is_valid, row.expires_at, row.expiry_source) == (True, None, "never")
    assert (
        row.data_access_expires_at == T0 + 5 * DAY and row.token_type == "PAGE" and row.profile_id == "2000"
    )
    firing = world.alerts("page")
    assert set(firing) == {"TokenDataAccessExpiring"}
    assert firing["TokenDataAccessExpiring"].labels["platform"] == "facebook"
    assert world.alerts("system-forever") == {}
    world.clock.now += 4 * DAY  # nearer still: nothing is refreshed, whatever auto_refresh says
    assert world.refresher().tick() == 0
    assert (
        world.sim.calls(token, EXCHANGE) == 0
        and world.sim.calls(world.strings["system-forever"], EXCHANGE) == 0
    )


def test_a_60_day_system_user_token_is_exchanged_with_the_app_secret(world: World) -> None:
    old = world.add(
        "system", "facebook", type="SYSTEM_USER", issued_at=T0 - 55 * DAY, expires_at=T0 + 5 * DAY
    )
    world.sweeper().sweep()
    assert world.row("system").expiry_source == "debug_token"
    assert set(world.alerts("system")) == {"TokenExpiring"}
    assert world.refresher().tick() == 1
    assert world.sim.calls(old, EXCHANGE) == 1
    new = current_token("system", context=world.ctx)
    row = world.row("system")
    assert new != old and world.sim.token_state(new)["type"] == "SYSTEM_USER"
    assert row.expires_at == pytest.approx(T0 + 60 * DAY, abs=1) and row.refresh_error is None
    assert world.alerts("system") == {}


def test_a_facebook_user_token_near_expiry_says_re_authorize_and_is_not_refreshed(world: World) -> None:
    token = world.add("user", "facebook", type="USER", issued_at=T0 - 59 * DAY, expires_at=T0 + DAY)
    world.sweeper().sweep()
    firing = world.alerts("user")
    assert set(firing) == {"TokenExpiring"} and firing["TokenExpiring"].severity == "critical"
    event = event_of(firing["TokenExpiring"])
    assert "the user must re-authorize before 2027-01-" in phrase(event, world.clock())
    assert "No server can extend it; the user must re-authorize before" in description(event, world.clock())
    assert world.refresher().tick() == 0
    assert world.sim.calls(token, EXCHANGE) == 0 and world.row("user").last_refresh_at is None


def test_an_instagram_token_is_refreshed_with_ig_refresh_token_and_checked_through_me(world: World) -> None:
    old = world.add("insta", "instagram", issued_at=T0 - 55 * DAY, expires_at=T0 + 5 * DAY)
    world.sweeper().sweep()
    row = world.row("insta")
    # debug_token answers an error on graph.instagram.com: no verdict on the inspector, /me says valid.
    assert (row.is_valid, row.validity_source, row.expires_at, row.expiry_source) == (True, "me", None, None)
    with world.ctx.sessions() as s:
        assert s.scalar(select(App.inspector_state).where(App.name == "insta")) == "ok"
    assert world.alerts("insta") == {}
    refresher = world.refresher()
    assert refresher.tick() == 0  # /me does not say when the string was issued: a day in the registry
    world.clock.now += DAY
    assert refresher.tick() == 1  # the expiry is unknown: a refresh learns it
    assert world.sim.calls(old, REFRESH) == 1
    new = current_token("insta", context=world.ctx)
    row = world.row("insta")
    assert new != old and row.validity_source == "me" and row.expiry_source == "refresh"
    assert row.expires_at == pytest.approx(world.clock() + 60 * DAY, abs=1)  # kept across the /me check
    world.clock.now += 51 * DAY  # 9 days left: due again, by the expiry it learned
    assert set(world.alerts("insta")) == set()
    world.clock.now += 3 * DAY
    assert set(world.alerts("insta")) == {"TokenExpiring"}
    assert refresher.tick() == 1 and world.sim.calls(new, REFRESH) == 1


def test_a_threads_token_still_refreshes_with_th_refresh_token(world: World) -> None:
    old = world.add("threads", "threads", issued_at=T0 - 55 * DAY, expires_at=T0 + 5 * DAY)
    world.sweeper().sweep()
    assert world.row("threads").expiry_source == "debug_token"
    assert world.refresher().tick() == 1 and world.sim.calls(old, REFRESH) == 1


def test_a_page_taken_out_of_a_grant_is_a_scope_lost_naming_the_targets(world: World) -> None:
    grant = [{"scope": "pages_manage_posts", "target_ids": ["111", "222"]}, {"scope": "pages_show_list"}]
    token = world.add("page", "facebook", type="PAGE", scopes=["pages_manage_posts", "pages_show_list"],
                      granular_scopes=grant)  # fmt: skip
    sweeper = world.sweeper()
    sweeper.sweep()
    assert world.alerts("page") == {}
    world.sim.set_granular_targets(token, "pages_manage_posts", ["111"])
    sweeper.check_now([world.row("page").id])
    firing = world.alerts("page")
    assert set(firing) == {"TokenScopesLost"}
    assert firing["TokenScopesLost"].labels["targets"] == "pages_manage_posts: 222"
    assert "lost targets of permissions: pages_manage_posts: 222" in phrase(
        event_of(firing["TokenScopesLost"]), world.clock()
    )
