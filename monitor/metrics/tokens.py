"""The token collector: per-token and fleet series built from the stored state on every scrape (SPEC 6).

It keeps no state between scrapes: each `collect()` reads the tokens table (joined with apps) with Core
SELECTs and yields fresh families, so a removed token's series vanish and a refreshed token's gauges move.
The fleet counts (total, per source, per expiry window) are kept by the database (monitor.metrics.fleet), and
the states are counted over the tokens in trouble, so `per_token = "problems"` reads only those, whatever
the fleet size. The per-token samples are made while they are rendered (monitor/metrics_series.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import ColumnElement, Connection, Select, case, func, or_, select

from monitor.db.models import Alert, App, Notification, Token
from monitor.metrics.fleet import read_fleet
from monitor.metrics.labels import TokenLabels, labels_family, read_labels
from monitor.state import STATES, Horizons
from monitor.state.sql import problems_filter, refused_apps_query, state_case

WINDOWS = (
    ("1d", 86400.0),
    ("2d", 2 * 86400.0),
    ("3d", 3 * 86400.0),
    ("7d", 7 * 86400.0),
    ("14d", 14 * 86400.0),
    ("30d", 30 * 86400.0),
)
HORIZONS = (("expires_at", Token.expires_at), ("data_access", Token.data_access_expires_at))
ALERT_NAMES = (
    "TokenExpiring",
    "TokenDataAccessExpiring",
    "TokenInvalid",
    "TokenScopesLost",
    "TokenCheckFailing",
    "InspectorInvalid",
    "TokenRefreshFailed",
    "SourceFailing",
)
PER_TOKEN_MODES = ("all", "problems", "none")

_PER_TOKEN_COLUMNS = (
    Token.name,
    App.name,
    Token.is_valid,
    Token.expires_at,
    Token.data_access_expires_at,
    Token.issued_at,
    Token.token_type,
    Token.application,
    Token.user_id,
    Token.scopes,
    Token.last_check_at,
    Token.last_success_at,
    Token.last_result,
    App.platform,
)


def _count(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def pending_query() -> Select:
    """The notifications waiting in the outbox."""
    return select(func.count()).select_from(Notification).where(Notification.status == "pending")


def trouble_states_query(h: Horizons, now: float, refused_apps: Sequence[int] = ()) -> Select:
    """(state, count) over the problem tokens only (used when no per-token rows are read)."""
    state = state_case(h, now).label("state")
    stmt: Select = select(state, func.count()).join(App, Token.app_id == App.id)
    return stmt.where(problems_filter(h, now, refused_apps)).group_by(state)


def per_token_query(mode: str, h: Horizons, now: float, refused_apps: Sequence[int] = ()) -> Select:
    """The per-token columns plus the state (computed by the database) as the last column."""
    stmt: Select = select(*_PER_TOKEN_COLUMNS, state_case(h, now)).join(App, Token.app_id == App.id)
    if mode == "problems":
        stmt = stmt.where(problems_filter(h, now, refused_apps))
    return stmt


@dataclass(frozen=True)
class Stored:
    """What one scrape read: per-token rows and the fleet counts."""

    rows: Sequence[Any]
    states: dict[str, int]
    expiring: list[int]
    pending: int
    sources: list[tuple[str, int]]
    muted: Sequence[tuple[str, str]] = ()  # (token, app) of every muted token
    firing: Sequence[tuple[str, str, int]] = ()  # (alertname, severity, count) of firing alerts
    labels: Sequence[TokenLabels] = ()  # threads_token_labels of the per-token tokens ([metrics] labels)


def muted_query(now: float, muted_apps: Sequence[int]) -> Select:
    """(token, app) of the tokens a mute is in force on: their own (the muted_until index: the few muted),
    or their app's."""
    muted = Token.muted_until > now
    if muted_apps:
        muted = or_(muted, Token.app_id.in_(list(muted_apps)))
    return select(Token.name, App.name).join(App, Token.app_id == App.id).where(muted)


def firing_query() -> Select:
    """(alertname, severity, count) of the firing alerts, through the status index."""
    return (
        select(Alert.alertname, Alert.severity, func.count())
        .where(Alert.status == "firing")
        .group_by(Alert.alertname, Alert.severity)
    )


def read_stored(
    conn: Connection, mode: str, h: Horizons, now: float, label_keys: Sequence[str] = ()
) -> Stored:
    """Everything a scrape needs, reading only the tokens in trouble (all of them in mode `all`; every token's
    labels for threads_token_labels when `label_keys` allows some: the operator's choice).

    Tokens per state: the database computes the state of each row it returns; the rows outside
    `problems_filter` are all OK, so `ok` also gets what COUNT(*) has beyond the rows counted.
    """
    fleet = read_fleet(conn, now)  # kept by the database: never counts the tokens table (migration 0012)
    total, pending = fleet.total, int(conn.scalar(pending_query()) or 0)
    refused = list(conn.scalars(refused_apps_query()))
    if mode == "none":
        rows: Sequence[Any] = []
        result = conn.execute(trouble_states_query(h, now, refused))
        counted: Iterable[tuple[str, int]] = [(str(state), int(n)) for state, n in result]
    else:
        rows = conn.execute(per_token_query(mode, h, now, refused)).all()
        counted = Counter(row[-1] for row in rows).items()  # state_case, the last column
    states = dict.fromkeys((s.value for s in STATES), 0)
    for state, count in counted:
        states[state] += count
    states["ok"] += max(0, total - sum(states.values()))  # a token added between the reads: never < 0
    expiring, sources = fleet.expiring, fleet.sources
    muted: Sequence[tuple[str, str]] = ()
    if mode != "none":
        muted_apps = list(conn.scalars(select(App.id).where(App.muted_until > now)))
        muted = [(str(t), str(a)) for t, a in conn.execute(muted_query(now, muted_apps))]
    firing = [(str(n), str(sev), int(c)) for n, sev, c in conn.execute(firing_query())]
    where = problems_filter(h, now, refused) if mode == "problems" else None
    labels = read_labels(conn, label_keys, where) if mode != "none" else []
    sources_ = [(str(src), int(n)) for src, n in sources]
    return Stored(rows, states, expiring, int(pending), sources_, muted, firing, labels)


def duration_family(seconds: float) -> Metric:
    duration = GaugeMetricFamily(
        "threads_monitor_scrape_duration_seconds", "Time spent reading the database for this scrape."
    )
    duration.add_metric([], seconds)
    return duration


def fleet_families(stored: Stored) -> list[Metric]:
    tokens = GaugeMetricFamily("threads_monitor_tokens", "Registered tokens per state.", labels=["state"])
    for state, count in stored.states.items():
        tokens.add_metric([state], float(count))
    window = GaugeMetricFamily(
        "threads_monitor_tokens_expiring",
        "Valid tokens whose horizon falls within the window from now.",
        labels=["horizon", "within"],
    )
    counts = iter(stored.expiring)
    for horizon, _ in HORIZONS:
        for label, _seconds in WINDOWS:
            window.add_metric([horizon, label], float(next(counts)))
    outbox = GaugeMetricFamily(
        "threads_monitor_notifications_pending", "Notifications in the outbox waiting to be delivered."
    )
    outbox.add_metric([], float(stored.pending))
    by_source = GaugeMetricFamily(
        "threads_monitor_source_tokens", "Tokens registered by each source.", labels=["source"]
    )
    for source, count in stored.sources:
        by_source.add_metric([source], float(count))
    labels = [labels_family(stored.labels)] if stored.labels else []
    return [tokens, window, outbox, by_source, *alert_families(stored), *labels]


def alert_families(stored: Stored) -> list[Metric]:
    """threads_monitor_alerts_firing (every known alert and severity, 0 when none fires) and
    threads_token_muted (1 per muted token)."""
    firing = GaugeMetricFamily(
        "threads_monitor_alerts_firing",
        "Alerts firing now (muted ones too) by alert name and severity.",
        labels=["alertname", "severity"],
    )
    counts = {(name, severity): 0 for name in ALERT_NAMES for severity in ("warning", "critical")}
    counts.update(((name, severity), n) for name, severity, n in stored.firing)
    for (name, severity), n in sorted(counts.items()):
        firing.add_metric([name, severity], float(n))
    muted = GaugeMetricFamily(
        "threads_token_muted",
        "1 while a mute (the token's or its app's) holds its notifications back; absent otherwise.",
        labels=["token", "app"],
    )
    for token, app in stored.muted:
        muted.add_metric([token, app], 1.0)
    return [firing, muted]
