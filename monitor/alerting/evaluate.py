"""Alert evaluation: which alerts should be firing, stepped against the stored ladder in one transaction.

A full evaluation reads the tokens in or near trouble plus every firing alert (never the whole fleet row by
row). An incremental one reads only the tokens whose alerts can have changed since the previous evaluation
(a write that changed their facts, a threshold that time crossed, a repeat that fell due), so its cost
follows the changes, not the number of tokens in trouble. Both end in the same state: the incremental
evaluation is a full one restricted to the tokens a full one could have changed anything for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from sqlalchemy import ColumnElement, CompoundSelect, Select, insert, select, union
from sqlalchemy.orm import Session

from monitor.alerting.outbox import CHUNK
from monitor.alerting.rules import (
    AlertState,
    Desired,
    TokenFacts,
    alert_key,
    app_alerts,
    source_alerts,
    step,
    token_alerts,
)
from monitor.config.load import AlertsConfig
from monitor.db.models import Alert, AlertEventRow, App, Source, Token

__all__ = ["SLACK", "Evaluation", "desired_alerts", "evaluate", "timely_ids", "trouble_ids", "written_since"]

# How long before its commit a write may stamp `tokens.updated_at` (a check's results are stamped right
# before their transaction; the clocks of several daemons differ by milliseconds under NTP): an incremental
# evaluation reads the changes of this much before the previous one again. A write later than that is
# seen by the next full evaluation (monitor.alerting.job.FULL_EVERY).
SLACK = 5.0
# Writes an incremental evaluation remembers (token id -> stamp), so that the next one, which reads the same
# SLACK seconds again, skips what it already looked at. Above this many (a bulk import) it reads them again.
REMEMBER = 100_000

_FACT_COLUMNS = (
    Token.id,
    Token.name,
    App.name.label("app"),
    Token.labels,
    Token.is_valid,
    Token.last_result,
    Token.expires_at,
    Token.data_access_expires_at,
    Token.scopes,
    Token.expected_scopes,
    Token.invalid_reason,
    Token.failing_since,
    Token.last_error,
    Token.refresh_error,
)


def trouble(cfg: AlertsConfig, now: float) -> list[ColumnElement[bool]]:
    """SQL conditions, one per kind of trouble, selecting every token a rule could fire for (a superset:
    the rules decide). Each is a range or an equality on one indexed column."""
    return [
        Token.is_valid.is_(False),
        Token.failing_since.is_not(None),
        Token.refresh_error.is_not(None),
        Token.expires_at <= now + max(cfg.expiry.warning, cfg.expiry.critical),
        Token.data_access_expires_at <= now + max(cfg.data_access.warning, cfg.data_access.critical),
        Token.scopes_lost.is_(True),
    ]


def trouble_ids(cfg: AlertsConfig, now: float) -> CompoundSelect:
    """The ids of the tokens in `trouble`, as a UNION of one indexed lookup per condition.

    One OR over the conditions is read through every index by PostgreSQL when its statistics are fresh,
    but as "every valid token" when they are stale, and as a whole-table scan by SQLite; the union reads
    the tokens in trouble and nothing else on both, whatever the statistics say.
    """
    return union(*(select(Token.id).where(condition) for condition in trouble(cfg, now)))


def written_since(since: float) -> Select[int, float]:
    """(id, updated_at) of the tokens a write changed since `since` (the previous evaluation): every write
    of what the alert rules read stamps `updated_at` (see SLACK)."""
    return select(Token.id, Token.updated_at).where(Token.updated_at > since - SLACK)


def timely_ids(cfg: AlertsConfig, since: float, now: float) -> CompoundSelect:
    """The ids of the tokens whose alerts time alone may have changed between `since` and `now`, as a UNION
    of indexed ranges: a warning or critical threshold of either horizon crossed, a check failure that
    reached `check_failing_after`, a firing alert whose repeat fell due."""
    crossings = [
        (Token.expires_at, {cfg.expiry.warning, cfg.expiry.critical}),
        (Token.data_access_expires_at, {cfg.data_access.warning, cfg.data_access.critical}),
    ]
    after = cfg.check_failing_after
    return union(
        *(
            select(Token.id).where(column > since + w, column <= now + w)
            for column, offsets in crossings
            for w in sorted(offsets)
        ),
        select(Token.id).where(Token.failing_since > since - after, Token.failing_since <= now - after),
        select(Alert.token_id).where(
            Alert.status == "firing",
            Alert.last_notified_at <= now - cfg.repeat_interval,
            Alert.token_id.is_not(None),
        ),
    )


def token_desired(
    session: Session, cfg: AlertsConfig, now: float, where: ColumnElement[bool]
) -> dict[str, Desired]:
    """The alerts that should be firing now for the tokens `where` selects, by key."""
    out: dict[str, Desired] = {}
    names = {f.name for f in fields(TokenFacts)}
    for row in session.execute(select(*_FACT_COLUMNS).join(App, App.id == Token.app_id).where(where)):
        facts = TokenFacts(**{k: v for k, v in row._mapping.items() if k in names})
        out.update((d.key, d) for d in token_alerts(facts, cfg, now))
    return out


def subject_desired(session: Session) -> dict[str, Desired]:
    """The alerts that should be firing now for apps (InspectorInvalid) and sources (SourceFailing)."""
    out: dict[str, Desired] = {}
    for app, reason in session.execute(
        select(App.name, App.inspector_reason).where(App.inspector_state == "invalid")
    ):
        out.update((d.key, d) for d in app_alerts(app, reason))
    for name, error in session.execute(
        select(Source.name, Source.last_error).where(Source.last_error.is_not(None))
    ):
        out.update((d.key, d) for d in source_alerts(name, error))
    return out


def desired_alerts(session: Session, cfg: AlertsConfig, now: float) -> dict[str, Desired]:
    """Every alert that should be firing now, by key."""
    return token_desired(session, cfg, now, Token.id.in_(trouble_ids(cfg, now))) | subject_desired(session)


def _firing_of(session: Session, where: ColumnElement[bool]) -> dict[str, Alert]:
    """The firing alerts among those `where` selects, by key."""
    return {a.key: a for a in session.scalars(select(Alert).where(where)) if a.status == "firing"}


def _full(session: Session, cfg: AlertsConfig, now: float) -> tuple[dict[str, Desired], dict[str, Alert]]:
    return desired_alerts(session, cfg, now), _firing_of(session, Alert.status == "firing")


def _incremental(
    session: Session, cfg: AlertsConfig, since: float, now: float, seen: Mapping[int, float], out: Evaluation
) -> tuple[dict[str, Desired], dict[str, Alert]]:
    """What `_full` reads, for the tokens written since `since` (less those `seen` already looked at with the
    same stamp) or due by time only; apps and sources are few: all of them. Firing alerts without a token
    (apps, sources, a token since removed) are read every time."""
    written = session.execute(written_since(since)).all()
    ids = {i for i, at in written if seen.get(i) != at} | set(session.scalars(timely_ids(cfg, since, now)))
    if len(written) <= REMEMBER:
        out.seen = {i: at for i, at in written if at < now}
    desired = subject_desired(session)
    # By token only (its index), firing or not, and the status filtered here: "status = 'firing' AND ..."
    # was read through the status index, every firing alert per chunk, while the alerts table had no
    # statistics yet (a fleet whose first sweep fires thousands).
    rows = _firing_of(session, Alert.token_id.is_(None))
    order = sorted(ids)
    for i in range(0, len(order), CHUNK):
        chunk = order[i : i + CHUNK]
        desired.update(token_desired(session, cfg, now, Token.id.in_(chunk)))
        rows.update(_firing_of(session, Alert.token_id.in_(chunk)))
    out.tokens = len(ids)
    return desired, rows


def to_state(row: Alert) -> AlertState:
    return AlertState(
        key=row.key,
        alertname=row.alertname,
        subject=row.subject,
        status=row.status,
        severity=row.severity,
        labels=dict(row.labels or {}),
        annotations=dict(row.annotations or {}),
        fingerprint=row.fingerprint,
        at=row.at,
        started_at=row.started_at,
        last_notified_at=row.last_notified_at,
        notified_severity=row.notified_severity,
        resolved_at=row.resolved_at,
        token_id=row.token_id,
    )


def _store(session: Session, row: Alert | None, state: AlertState, now: float) -> None:
    values = {f.name: getattr(state, f.name) for f in fields(AlertState)}
    values["labels"], values["annotations"] = dict(state.labels), dict(state.annotations)
    if row is None:
        session.add(Alert(**values, updated_at=now))
        return
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now


@dataclass
class Evaluation:
    desired: int = 0  # alerts that should be firing, among those this evaluation looked at
    changed: int = 0
    events: int = 0
    tokens: int = 0  # incremental: the tokens whose facts it read; full: the tokens with an alert to fire
    full: bool = True
    # (token id -> stamp) it looked at: the `seen` of the next incremental evaluation, once committed
    seen: dict[int, float] = field(default_factory=dict)


def evaluate(
    session: Session,
    cfg: AlertsConfig,
    now: float,
    since: float | None = None,
    seen: Mapping[int, float] | None = None,
) -> Evaluation:
    """Step the alerts to `now` inside the caller's (exclusive) transaction: every relevant alert, or with
    `since` (the `now` of the previous evaluation under the same `cfg`, and its `seen`) those of the tokens
    that changed."""
    result = Evaluation(full=since is None)
    if since is None:
        desired, rows = _full(session, cfg, now)
        result.tokens = len({d.token_id for d in desired.values() if d.token_id is not None})
    else:
        desired, rows = _incremental(session, cfg, since, now, seen or {}, result)
    missing = [k for k in desired if k not in rows]
    for i in range(0, len(missing), CHUNK):
        rows.update(
            (a.key, a) for a in session.scalars(select(Alert).where(Alert.key.in_(missing[i : i + CHUNK])))
        )
    result.desired, events = len(desired), []
    # An expiry alert ends without a message when its token turned invalid (it expired, or was revoked): a
    # "no longer close to expiry" next to TokenInvalid would read as an all-clear.
    superseded = {
        alert_key(n, d.subject)
        for d in desired.values()
        if d.alertname == "TokenInvalid"
        for n in ("TokenExpiring", "TokenDataAccessExpiring")
    }
    for key in rows.keys() | desired.keys():
        row = rows.get(key)
        stored = to_state(row) if row is not None else None
        new, emitted = step(stored, desired.get(key), cfg.repeat_interval, now)
        if new is not None and new != stored:
            _store(session, row, new, now)
            result.changed += 1
        if key in superseded:
            emitted = tuple(e for e in emitted if e.status != "resolved")
        events += [{"created_at": now, "payload": json.dumps(e.to_dict(), sort_keys=True)} for e in emitted]
    if events:
        session.execute(insert(AlertEventRow), events)
    result.events = len(events)
    return result
