"""Incremental alert evaluation: between full passes only the tokens that changed, crossed a threshold or
are due a repeat are read, and the alerts end up exactly where a full evaluation would put them."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.job import FULL_EVERY, AlertsComponent, AlertSettings, Evaluation, evaluate, exclusive
from monitor.config.load import AlertsConfig, Config
from monitor.db.models import Alert, App, Token
from monitor.db.session import transaction
from monitor.registry import delete_tokens
from tests.alerting.test_alert_flow import DAY, T0, Clock, add_fleet, make_db, observe

CFG = AlertsConfig()
FULL_SCOPES = "threads_basic,threads_content_publish"


def evaluate_in(
    sessions: sessionmaker[Session],
    now: float,
    since: float | None,
    cfg: AlertsConfig = CFG,
    seen: dict[int, float] | None = None,
) -> Evaluation:
    with exclusive(sessions, "alerts") as s:
        return evaluate(s, cfg, now, since, seen)


def full_would_change(sessions: sessionmaker[Session], now: float) -> Evaluation:
    """A full evaluation at `now`, rolled back: what it would have changed."""
    with sessions() as s, s.begin():
        result = evaluate(s, CFG, now)
        s.rollback()
    return result


def firing(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str]]:
    with sessions() as s:
        return {
            a.key: (a.severity, a.status) for a in s.scalars(select(Alert).where(Alert.status == "firing"))
        }


def step_id(sessions: sessionmaker[Session], name: str) -> int:
    with sessions() as s:
        return int(s.scalar(select(Token.id).where(Token.name == name)))


def mutate(s: Session, rng: random.Random, names: list[str], now: float) -> None:
    """One write a check, a refresh, an edit or a removal could make (stamped, as the product's are)."""
    name = rng.choice(names)
    kind = rng.choice(
        [
            "expiry",
            "data",
            "invalid",
            "valid",
            "failing",
            "recover",
            "refresh",
            "refreshed",
            "scopes",
            "delete",
        ]
    )
    values: dict[str, Any] = {
        "expiry": {"expires_at": now + rng.uniform(-DAY, 20 * DAY)},
        "data": {"data_access_expires_at": now + rng.uniform(0, 30 * DAY)},
        "invalid": {"is_valid": False, "invalid_reason": "revoked", "last_result": "invalid"},
        "valid": {"is_valid": True, "invalid_reason": None, "last_result": "valid"},
        "failing": {
            "failing_since": now - rng.uniform(0, 2 * 3600),
            "last_result": "error",
            "last_error": "x",
        },
        "recover": {"failing_since": None, "last_result": "valid", "last_error": None},
        "refresh": {"refresh_error": "refresh failed: HTTP 500"},
        "refreshed": {"refresh_error": None},
        "scopes": rng.choice(
            [{"scopes": "threads_basic", "scopes_lost": True}, {"scopes": FULL_SCOPES, "scopes_lost": False}]
        ),
    }.get(kind, {})
    if kind == "delete":
        if len(names) > 5:
            names.remove(name)
            delete_tokens(s, [s.scalar(select(Token.id).where(Token.name == name))], now=now)
        return
    observe(s, [name], now=now, **values)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_evaluations_end_where_a_full_one_would(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    sessions = make_db(db_url)
    now = T0
    names = add_fleet(
        sessions, 30, now, expected_scopes=FULL_SCOPES, scopes=FULL_SCOPES, expires_at=now + 9 * DAY
    )
    evaluate_in(sessions, now, None)
    since, seen, seen_stamps = now, set(), {}
    for _ in range(60):
        with transaction(sessions) as s:
            for _ in range(rng.randint(0, 3)):
                mutate(s, rng, names, now)
            if rng.random() < 0.1:
                state = rng.choice(["invalid", "ok"])
                s.execute(update(App).values(inspector_state=state, inspector_reason="expired"))
        now += rng.choice([1, 3, 60, 600, 3600, 6 * 3600, 2 * DAY])
        result = evaluate_in(sessions, now, since, seen=seen_stamps)
        since, seen_stamps = now, result.seen
        assert not result.full
        would = full_would_change(sessions, now)
        assert (would.changed, would.events) == (0, 0), (
            f"a full evaluation after the incremental one: {would}"
        )
        seen.update(firing(sessions).values())
    # The walk went through the ladder, not around it.
    assert {sev for sev, _ in seen} >= {"warning", "critical"}


def test_an_incremental_evaluation_reads_the_changed_tokens_not_the_firing_ones(sqlite_url: str) -> None:
    cfg = AlertsConfig(repeat_interval=7 * DAY)
    sessions = make_db(sqlite_url)
    # Added (and stamped) a minute ago; every token inside the warning.
    names = add_fleet(sessions, 2000, T0 - 60, expires_at=T0 + 5 * DAY)
    full = evaluate_in(sessions, T0, None, cfg)
    assert (full.tokens, full.desired) == (2000, 2000)
    with transaction(sessions) as s:
        observe(s, names[:1], now=T0 + 2, is_valid=False, invalid_reason="revoked", last_result="invalid")
    step = evaluate_in(sessions, T0 + 3, T0, cfg)
    assert (step.tokens, step.events) == (1, 1)  # TokenInvalid fires (its TokenExpiring ends silently)
    assert firing(sessions)[f"TokenInvalid/{names[0]}"] == ("critical", "firing")
    # The next one sees that write again (it lies within SLACK of the previous evaluation): told what the
    # previous one looked at, it skips it; not told, it reads it again and changes nothing.
    assert step.seen == {step_id(sessions, names[0]): T0 + 2}
    assert evaluate_in(sessions, T0 + 600, T0 + 3, cfg, step.seen).tokens == 0
    again = evaluate_in(sessions, T0 + 600, T0 + 3, cfg)
    assert (again.tokens, again.changed, again.events) == (1, 0, 0)
    quiet = evaluate_in(sessions, T0 + 1200, T0 + 600, cfg)
    assert (quiet.tokens, quiet.changed, quiet.events) == (0, 0, 0)
    # Time alone moves the tokens into the critical window: exactly those are read, 1,999 escalate.
    critical = evaluate_in(sessions, T0 + 3 * DAY + 1, T0 + 1200, cfg)
    assert (critical.tokens, critical.events) == (2000, 1999)
    # A week after their last notification every alert is due its repeat: found through the alerts.
    repeat = evaluate_in(sessions, T0 + 10 * DAY + 2, T0 + 3 * DAY + 1, cfg)
    assert (repeat.tokens, repeat.events) == (2000, 2000)
    with sessions() as s, s.begin():
        assert evaluate(s, cfg, T0 + 10 * DAY + 2).changed == 0


def test_a_write_without_a_stamp_is_caught_by_the_hourly_full_pass(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    sessions = make_db(sqlite_url)
    (name,) = add_fleet(sessions, 1, clock.now - 60)
    comp = AlertsComponent(sessions, AlertSettings.of(Config(alerts=CFG)), owner="t", clock=clock)
    caplog.set_level(logging.DEBUG, logger="monitor.alerts")
    try:
        comp.tick()
        with transaction(sessions) as s:  # a write that bypassed every product writer: no updated_at
            s.execute(update(Token).where(Token.name == name).values(is_valid=False, last_result="invalid"))
        clock.now += 5
        comp.tick()
        assert firing(sessions) == {}
        clock.now += FULL_EVERY
        comp.tick()
        assert firing(sessions) == {f"TokenInvalid/{name}": ("critical", "firing")}
        comp.reload(AlertSettings.of(Config(alerts=AlertsConfig(repeat_interval=3600.0))))
        clock.now += 5
        comp.tick()
    finally:
        comp.close()
    kinds = [
        r.getMessage().split(" evaluation")[0] for r in caplog.records if "evaluation read" in r.getMessage()
    ]
    assert kinds == ["alerts: full", "alerts: incremental", "alerts: full", "alerts: full"]
