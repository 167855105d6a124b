"""The SPEC's numbers, written here as the SPEC writes them, never read from the code's own constants.

A test that computes its boundary from the constant it checks (`NOW - MAX_AGE - 1`) passes whatever the
constant says. These state each number as a literal, through the public way in (a config file with nothing
but the required keys, the pure decisions, the callback listener over HTTP), one minute either side of it.
Changing a default or a limit in the code makes one of them fail; changing the SPEC means changing them.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from conftest import write_config
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from support import free_port

from monitor.alerting.job import AlertsComponent, AlertSettings
from monitor.alerting.rules import AlertState, Desired, TokenFacts, step, token_alerts
from monitor.callbacks import CallbackServer, sign_request
from monitor.callbacks.signed import SignedRequestError, verify_callback
from monitor.callbacks.store import store_deauthorization
from monitor.check.observe import next_check_at
from monitor.config.load import Config, load_config
from monitor.crypto import Vault
from monitor.daemon.lifecycle import cadence_of
from monitor.db.migrate import upgrade
from monitor.db.models import AlertEventRow, Notification, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.notify import AlertEvent
from monitor.refresh.rules import RefreshFacts, eligible
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator.api import ThreadsApi
from monitor.state import Horizons, State, token_state

NOW = 1_800_000_000
MINUTE, HOUR, DAY = 60, 3600, 86400
SECRET = "growth-app-secret-THAA0123456789"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """What a config file with only the required keys means (every number below is a default)."""
    hook = f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "http://127.0.0.1:{free_port()}/hook"\n'
    db = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    return load_config(write_config(tmp_path / "config.toml", db, tmp_path / "secret.key", hook))


@pytest.fixture
def sessions(config: Config) -> sessionmaker[Session]:
    engine = make_engine(config.database.url)
    upgrade(engine)
    return make_sessionmaker(engine)


# --- callbacks: "an issued_at older than 24 h or in the future, a body over 8 KiB: HTTP 400" ----------------


def callback(issued_at: int, size: int | None = None) -> bytes:
    """A form body with a valid signed_request, padded with a second field to exactly `size` bytes."""
    body = urlencode({"signed_request": sign_request("17841400000000001", issued_at, SECRET)})
    if size is not None:
        body += "&pad=" + "x" * (size - len(body) - len("&pad="))
        assert len(body) == size
    return body.encode()


def verdict(body: bytes) -> str:
    try:
        verify_callback(body, FORM, SECRET, NOW)
    except SignedRequestError as exc:
        return exc.reason
    return "accepted"


def test_a_callback_is_news_for_24_hours_and_never_from_the_future() -> None:
    assert verdict(callback(NOW - (23 * HOUR + 59 * MINUTE))) == "accepted"
    assert verdict(callback(NOW - (24 * HOUR + MINUTE))) == "stale"
    assert verdict(callback(NOW + MINUTE)) == "stale"
    assert verdict(callback(NOW)) == "accepted"


def test_a_callback_body_is_at_most_8_kib() -> None:
    assert verdict(callback(NOW - MINUTE, size=8192)) == "accepted"
    assert verdict(callback(NOW - MINUTE, size=8193)) == "bad_request"


def test_the_listener_answers_both_limits_over_http() -> None:
    outcomes: list[str] = []
    server = CallbackServer(
        secret_for={"growth": SECRET}.get,
        on_deauthorize=lambda *args: None,
        on_recheck=lambda request: 0,
        count=lambda kind, outcome: outcomes.append(outcome),
        now=lambda: NOW,
    )
    server.start()
    try:
        url = f"{server.url}/callbacks/threads/growth/deauthorize"
        bodies = [
            callback(NOW - (23 * HOUR + 59 * MINUTE), size=8192),
            callback(NOW - (24 * HOUR + MINUTE)),
            callback(NOW + MINUTE),
            callback(NOW - MINUTE, size=8193),
        ]
        codes = [
            requests.post(url, data=b, headers={"Content-Type": FORM}, timeout=15).status_code for b in bodies
        ]
    finally:
        server.stop()
    assert codes == [200, 400, 400, 400]
    assert outcomes == ["accepted", "stale", "stale", "bad_request"]


# --- "a repeat of the same request checks a token at most once per 10 s" ----------------------------------


def test_a_token_is_queued_again_by_a_callback_10_s_after_its_last_callback_check(
    sessions: sessionmaker[Session],
) -> None:
    vault = Vault.from_keys([Fernet.generate_key()])
    with transaction(sessions) as s:
        add_app(s, vault, "growth", "INSPECTOR-SECRET", kind="user_token", threads_app_id="1", now=NOW)
        add_tokens(s, vault, [NewToken(f"t{i}", "growth", f"THAA-TOKEN-{i:04d}") for i in range(3)], now=NOW)
        s.execute(update(Token).values(user_id="111", callback_check_at=NOW))  # checked for a callback at NOW

    def deauthorize(at: float) -> int:
        with transaction(sessions) as s:
            return store_deauthorization(s, "growth", "111", int(at), at)

    assert deauthorize(NOW + 9.999) == 0
    assert deauthorize(NOW + 10) == 3


# --- [alerts] defaults: expiry 7d/2d, data_access 14d/3d, check_failing_after 1h, repeat 24h, group_wait 30s


def facts(**observed: object) -> TokenFacts:
    row: dict[str, object] = dict(
        id=1, name="acme", app="growth", labels={}, is_valid=True, last_result="valid", expires_at=None,
        data_access_expires_at=None, scopes="threads_basic", expected_scopes="threads_basic",
        invalid_reason=None, failing_since=None, last_error=None, refresh_error=None,
    )  # fmt: skip
    return TokenFacts(**{**row, **observed})  # type: ignore[arg-type]


def alerts(config: Config, **observed: object) -> dict[str, str]:
    return {d.alertname: d.severity for d in token_alerts(facts(**observed), config.alerts, NOW)}


@pytest.mark.parametrize(
    ("field", "alertname", "warning", "critical"),
    [("expires_at", "TokenExpiring", 7, 2), ("data_access_expires_at", "TokenDataAccessExpiring", 14, 3)],
)
def test_default_thresholds(config: Config, field: str, alertname: str, warning: int, critical: int) -> None:
    def at(left: float) -> tuple[dict[str, str], State]:
        horizons: dict[str, float | None] = {"expires_at": None, "data_access_expires_at": None}
        horizons[field] = NOW + left
        state = token_state(
            is_valid=True,
            last_result="valid",
            horizons=Horizons.from_alerts(config.alerts),
            now=NOW,
            **horizons,
        )
        return alerts(config, **horizons), state

    assert at(warning * DAY + MINUTE) == ({}, State.OK)
    assert at(warning * DAY - MINUTE) == ({alertname: "warning"}, State.WARNING)
    assert at(critical * DAY + MINUTE) == ({alertname: "warning"}, State.WARNING)
    assert at(critical * DAY - MINUTE) == ({alertname: "critical"}, State.CRITICAL)


def test_a_check_fails_for_1_hour_before_it_alerts(config: Config) -> None:
    assert "TokenCheckFailing" not in alerts(config, last_result="error", failing_since=NOW - 59 * MINUTE)
    assert (
        alerts(config, last_result="error", failing_since=NOW - 61 * MINUTE)["TokenCheckFailing"] == "warning"
    )


def test_a_firing_alert_repeats_every_24_hours(config: Config) -> None:
    labels = {"alertname": "TokenInvalid", "token": "acme", "app": "growth", "severity": "critical"}
    desired = Desired("TokenInvalid/acme", "TokenInvalid", "acme", "critical", labels)
    stored = AlertState(
        key=desired.key, alertname="TokenInvalid", subject="acme", status="firing", severity="critical",
        labels=labels, annotations={}, fingerprint="f", at=None, started_at=NOW,
        last_notified_at=NOW, notified_severity="critical",
    )  # fmt: skip
    repeat = config.alerts.repeat_interval
    assert step(stored, desired, repeat, NOW + 23 * HOUR + 59 * MINUTE)[1] == ()
    assert [e.kind for e in step(stored, desired, repeat, NOW + 24 * HOUR + MINUTE)[1]] == ["repeat"]


def queue_event(sessions: sessionmaker[Session]) -> None:
    event = AlertEvent("TokenInvalid", "firing", "critical", {"token": "acme"}, {}, NOW, None, "f")
    with transaction(sessions) as s:
        s.execute(insert(AlertEventRow), [{"created_at": NOW, "payload": json.dumps(event.to_dict())}])


def test_alerts_are_grouped_for_30_seconds(config: Config, sessions: sessionmaker[Session]) -> None:
    queue_event(sessions)
    component = AlertsComponent(sessions, AlertSettings.of(config), owner="test", clock=lambda: NOW)
    try:
        assert component.group(NOW + 29) == 0
        assert component.group(NOW + 30) == 1
    finally:
        component.close()


def test_an_undelivered_notification_is_dropped_at_24_hours(
    config: Config, sessions: sessionmaker[Session]
) -> None:
    """The "hooks" webhook points at a closed port: every attempt fails and is retried, until the message
    is a day old."""
    now = [float(NOW)]
    outcomes: list[str] = []
    queue_event(sessions)
    component = AlertsComponent(sessions, AlertSettings.of(config), owner="test", clock=lambda: now[0])
    component.outbox.on_outcome = lambda notifier, outcome: outcomes.append(outcome)

    def deliver(at: float) -> str:
        now[0] = at
        component.outbox.deliver_due()
        with sessions() as s:
            return str(s.scalar(select(Notification.status)))

    written = NOW + 30  # when grouping writes the message: its age counts from here
    try:
        assert component.group(written) == 1
        assert deliver(written) == "pending"
        assert deliver(written + 23 * HOUR + 59 * MINUTE) == "pending"
        assert deliver(written + 24 * HOUR + MINUTE) == "dropped"
    finally:
        component.close()
    assert outcomes == ["dropped"]  # and counted


# --- [schedule] defaults: max_check_interval 6h, min_check_interval 5m ------------------------------------


def test_a_healthy_token_is_checked_every_6_hours_and_never_more_than_every_5_minutes(config: Config) -> None:
    def next_check(result: str = "valid", expires_in: float | None = None, failures: int = 0) -> float:
        at = next_check_at(
            result=result, expires_at=None if expires_in is None else NOW + expires_in,
            data_access_expires_at=None, consecutive_failures=failures, retry_after=None,
            cadence=cadence_of(config), now=NOW, rand=0.0,
        )  # fmt: skip
        return at - NOW

    assert next_check() == 6 * HOUR
    assert next_check(expires_in=60 * DAY) == 6 * HOUR
    assert next_check(expires_in=10 * MINUTE) == 5 * MINUTE  # as close to a horizon as it gets
    assert next_check(result="error", failures=1) == 5 * MINUTE
    assert next_check(result="error", failures=30) == 6 * HOUR


# --- refresh: "refreshed once at least 24 h old and not yet expired", "60 days from the refresh" ----------


def test_a_token_is_refreshed_once_24_hours_old_within_10_days_of_expiry(config: Config) -> None:
    def due(age: float, left: float) -> bool:
        token = RefreshFacts(
            auto_refresh=True, is_valid=True, expires_at=NOW + left, issued_at=NOW - age,
            secret_changed_at=NOW - age, next_refresh_at=None, writeback_pending=False,
        )  # fmt: skip
        return eligible(token, config.refresh, NOW)

    assert due(24 * HOUR + MINUTE, 9 * DAY)
    assert not due(23 * HOUR + 59 * MINUTE, 9 * DAY)
    assert not due(30 * DAY, -MINUTE)  # expired: nothing left to refresh
    assert due(30 * DAY, 10 * DAY - MINUTE)
    assert not due(30 * DAY, 10 * DAY + MINUTE)


def test_the_api_refreshes_a_token_once_24_hours_old_for_60_days() -> None:
    api = ThreadsApi(clock=lambda: NOW)
    api.add_app("1", "INSPECTOR")
    api.add_token("young", app_id="1", issued_at=NOW - (23 * HOUR + 59 * MINUTE))
    api.add_token("old", app_id="1", issued_at=NOW - (24 * HOUR + MINUTE))
    assert api.token_state("old")["expires_at"] == NOW - (24 * HOUR + MINUTE) + 60 * DAY  # lives 60 days
    assert api.refresh_answer("young", "th_refresh_token")[0] == 400
    status, body, _ = api.refresh_answer("old", "th_refresh_token")
    assert (status, body["expires_in"]) == (200, 5_184_000)
    assert api.token_state(body["access_token"])["expires_at"] == NOW + 60 * DAY
