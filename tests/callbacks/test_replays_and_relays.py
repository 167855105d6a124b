"""Replays and relays in-process, on every backend: a deauthorize callback is stored once (the database holds
it to that), each app's relays queue on a channel of their own, bounded, and one app's backlog never delays
another app's relay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import HttpReceiver
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.outbox import Outbox
from monitor.callbacks.store import queue_relay, store_deauthorization
from monitor.db import migrate
from monitor.db.models import App, Callback, Notification
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.notify.relay import RELAY, relay_channel, relay_notifiers

NOW = 1_900_000_000.0
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        for name in ("growth", "ads"):
            s.add(App(name=name, inspector_kind="user_token", inspector_secret="x", inspector_fingerprint="f",
                      created_at=NOW))  # fmt: skip
    yield factory
    engine.dispose()


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Callback)) or 0)


def test_a_replay_is_no_news_and_the_database_refuses_a_second_copy(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        assert store_deauthorization(s, "growth", "111", int(NOW), NOW) == 0
    with transaction(sessions) as s:
        assert store_deauthorization(s, "growth", "111", int(NOW), NOW + 5) is None  # a replay
        assert store_deauthorization(s, "growth", "111", int(NOW) + 1, NOW + 5) == 0  # another callback
        assert store_deauthorization(s, "ads", "111", int(NOW), NOW + 5) == 0  # another app's
    assert stored(sessions) == 3
    # A replay racing its original past the check above is stopped by the unique index at commit.
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        app_id = s.scalar(select(App.id).where(App.name == "growth"))
        s.execute(
            insert(Callback).values(
                kind="deauthorize",
                app_id=app_id,
                user_id="111",
                issued_at=float(int(NOW)),
                received_at=NOW,
                tokens=0,
            )  # fmt: skip
        )
    assert stored(sessions) == 3


def test_each_apps_relay_backlog_is_bounded(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        assert [queue_relay(s, "growth", b"x", FORM, NOW, backlog=3) for _ in range(5)] == [True] * 3 + [
            False
        ] * 2
        assert queue_relay(s, "ads", b"y", FORM, NOW, backlog=3)
    with sessions() as s:
        channels = dict(
            s.execute(select(Notification.notifier, func.count()).group_by(Notification.notifier)).all()
        )
    assert channels == {relay_channel("growth"): 3, relay_channel("ads"): 1}


def test_one_apps_backlog_does_not_delay_another_apps_relay(sessions: sessionmaker[Session]) -> None:
    with HttpReceiver() as handler:
        with transaction(sessions) as s:
            for n in range(60):
                queue_relay(s, "growth", f"growth-{n}".encode(), FORM, NOW)
            queue_relay(s, "ads", b"ads-0", FORM, NOW)
        counted: list[tuple[str, str]] = []
        outbox = Outbox(
            sessions,
            relay_notifiers(handler.url("/d/{app}")),
            owner="t",
            ttl=86400,
            clock=lambda: NOW,
            batch=10,
            on_outcome=lambda notifier, outcome: counted.append((notifier, outcome)),
        )
        try:
            outbox.deliver_due(wait=True)  # one round: ten of growth's, and ads' one, side by side
        finally:
            outbox.close()
        bodies = [r.body for r in handler.requests.items]
    assert b"ads-0" in bodies and len(bodies) == 11
    assert [r for r in handler.requests.items if r.body == b"ads-0"][0].path == "/d/ads"
    assert counted == [(RELAY, "sent")] * 11  # counted under the relay's name, whatever the channel


def test_the_migration_keeps_the_first_of_each_stored_replay(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:
            conn.execute(insert(App.__table__).values(name="growth", inspector_kind="user_token",
                         inspector_secret="x", inspector_fingerprint="f", created_at=NOW))  # fmt: skip
            app_id = conn.scalar(select(App.id))
            rows = [("deauthorize", "111", NOW), ("deauthorize", "111", NOW), ("deauthorize", "222", NOW),
                    ("recheck", "111", None), ("recheck", "111", None)]  # fmt: skip
            for n, (kind, user, issued) in enumerate(rows):
                conn.execute(insert(Callback.__table__).values(kind=kind, app_id=app_id, user_id=user,
                             issued_at=issued, received_at=NOW + n, tokens=0))  # fmt: skip
        migrate.upgrade(engine)
        with engine.connect() as conn:
            kept = conn.execute(
                select(Callback.kind, Callback.user_id, Callback.received_at).order_by(Callback.id)
            )
            assert [tuple(r) for r in kept] == [
                ("deauthorize", "111", NOW), ("deauthorize", "222", NOW + 2),
                ("recheck", "111", NOW + 3), ("recheck", "111", NOW + 4),
            ]  # fmt: skip
        migrate.downgrade(engine, "0007")
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_over_the_backlog_a_callback_is_stored_and_checked_and_its_relay_dropped_and_counted(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from helpers_daemon import close_sweeper, make_fleet

    from monitor.callbacks.store import RELAY_BACKLOG
    from monitor.daemon.callbacks import CallbacksComponent, CallbacksSettings
    from monitor.simulator import Simulator

    with Simulator() as sim:
        fleet = make_fleet(
            tmp_path,
            sqlite_url,
            sim,
            callbacks={"listen": "127.0.0.1:0", "forward_url": "http://127.0.0.1:9/{app}"},
        )
        fleet.add_app("growth")
        fleet.add_tokens("growth", 1, prefix="u1", user_id="1")
        with transaction(fleet.ctx.sessions) as s:
            row = {"notifier": relay_channel("growth"), "payload": "{}", "status": "pending", "attempts": 0}
            rows = [
                {**row, "delivery_id": f"d-{n}", "created_at": NOW, "next_attempt_at": NOW}
                for n in range(RELAY_BACKLOG)
            ]
            s.execute(insert(Notification), rows)
        counted: list[tuple[str, str]] = []
        sweeper = fleet.sweeper()
        component = CallbacksComponent(
            CallbacksSettings(fleet.config.callbacks),  # type: ignore[arg-type]
            sessions=fleet.ctx.sessions, vault=fleet.ctx.vault, sweeper=sweeper, count=lambda k, o: None,
            clock=lambda: NOW, relay_outcome=lambda n, o: counted.append((n, o)),
        )  # fmt: skip
        try:
            assert component.on_deauthorize("growth", "1", int(NOW), b"signed_request=x", FORM)
            assert not component.on_deauthorize(
                "growth", "1", int(NOW), b"signed_request=x", FORM
            )  # a replay
        finally:
            component.close()
            close_sweeper(sweeper)
        with fleet.ctx.sessions() as s:
            relays = s.scalar(select(func.count()).select_from(Notification))
            stored = s.scalar(select(func.count()).select_from(Callback))
        fleet.close()
    assert (stored, relays, counted) == (1, RELAY_BACKLOG, [(RELAY, "dropped")])
    assert "not relayed to forward_url" in caplog.text
