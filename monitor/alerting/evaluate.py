"""Alert evaluation: which alerts should be firing, stepped against the stored ladder in one transaction.

A full evaluation reads the tokens in or near trouble plus every open alert (never the whole fleet row by
row). An incremental one reads only the tokens whose alerts can have changed since the previous evaluation
(a write that changed their facts, a threshold that time crossed, a repeat that fell due, a mute that
ended), so its cost follows the changes, not the number of tokens in trouble. Both end in the same state:
the incremental evaluation is a full one restricted to the tokens a full one could have changed anything
for. Each step knows the mute over its alert (monitor.alerting.mutes) and, when the alert ends, why
(monitor.alerting.reasons).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.alerting.desired import (
    SLACK,
    desired_alerts,
    facts_of,
    open_alerts,
    subject_desired,
    timely_ids,
    token_desired,
    trouble_ids,
    written_since,
)
from monitor.alerting.ladder import OPEN, AlertState, Desired, resolves, step
from monitor.alerting.mutes import Mutes, read_mutes
from monitor.alerting.reasons import resolution_reason
from monitor.alerting.rules import TokenFacts, alert_key
from monitor.config.load import AlertsConfig
from monitor.db.chunks import in_chunks
from monitor.db.models import Alert, AlertEventRow, App, Token

__all__ = ["SLACK", "Evaluation", "desired_alerts", "evaluate", "timely_ids", "trouble_ids", "written_since"]

# Writes an incremental evaluation remembers (token id -> stamp), so that the next one, which reads the same
# SLACK seconds again, skips what it already looked at. Above this many (a bulk import) it reads them again.
REMEMBER = 100_000

Facts = dict[int, TokenFacts]


def _full(session: Session, cfg: AlertsConfig, now: float, facts: Facts) -> tuple[dict[str, Desired], dict]:
    return desired_alerts(session, cfg, now, facts), open_alerts(session, Alert.status.in_(OPEN))


def _incremental(
    session: Session,
    cfg: AlertsConfig,
    since: float,
    now: float,
    seen: Mapping[int, float],
    out: Evaluation,
    facts: Facts,
) -> tuple[dict[str, Desired], dict[str, Alert]]:
    """What `_full` reads, for the tokens written since `since` (less those `seen` already looked at with the
    same stamp) or due by time only; apps and sources are few: all of them. Open alerts without a token
    (apps, sources, a token since removed) are read every time."""
    written = session.execute(written_since(since)).all()
    ids = {i for i, at in written if seen.get(i) != at} | set(session.scalars(timely_ids(cfg, since, now)))
    if len(written) <= REMEMBER:
        out.seen = {i: at for i, at in written if at < now}
    desired = subject_desired(session)
    rows = open_alerts(session, Alert.token_id.is_(None))
    order = sorted(ids)
    for chunk in in_chunks(order):
        desired.update(token_desired(session, cfg, now, Token.id.in_(chunk), facts))
        rows.update(open_alerts(session, Alert.token_id.in_(chunk)))
    out.tokens = len(ids)
    return desired, rows


def to_state(row: Alert) -> AlertState:
    return AlertState(**{f.name: getattr(row, f.name) for f in fields(AlertState)})


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


@dataclass(frozen=True)
class Context:
    """What stepping each alert needs besides its own state: mutes, facts for reasons, superseded keys."""

    cfg: AlertsConfig
    now: float
    mutes: Mutes
    facts: Facts
    inspectors: Mapping[str, float | None]  # app name -> when its inspector credential was replaced
    superseded: frozenset[str]


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
    result, facts = Evaluation(full=since is None), Facts()
    if since is None:
        desired, rows = _full(session, cfg, now, facts)
        result.tokens = len({d.token_id for d in desired.values() if d.token_id is not None})
    else:
        desired, rows = _incremental(session, cfg, since, now, seen or {}, result, facts)
    missing = [k for k in desired if k not in rows]
    for chunk in in_chunks(missing):
        rows.update((a.key, a) for a in session.scalars(select(Alert).where(Alert.key.in_(chunk))))
    ctx = _context(session, cfg, now, desired, rows, facts)
    result.desired, events = len(desired), []
    for key in rows.keys() | desired.keys():
        row = rows.get(key)
        stored = to_state(row) if row is not None else None
        new, emitted = _step(ctx, key, stored, desired.get(key))
        if new is not None and new != stored:
            _store(session, row, new, now)
            result.changed += 1
        events += [{"created_at": now, "payload": json.dumps(e.to_dict(), sort_keys=True)} for e in emitted]
    if events:
        session.execute(insert(AlertEventRow), events)
    result.events = len(events)
    return result


def _context(
    session: Session, cfg: AlertsConfig, now: float, desired: dict[str, Desired], rows: dict, facts: Facts
) -> Context:
    ending = [to_state(rows[k]) for k in rows if resolves(to_state(rows[k]), desired.get(k))]
    facts_of(session, [a.token_id for a in ending if a.token_id is not None], facts)
    inspectors: dict[str, float | None] = {}
    if any(a.alertname == "InspectorInvalid" for a in ending):
        inspectors = dict(session.execute(select(App.name, App.inspector_changed_at)).all())
    # An expiry alert ends without a message when its token turned invalid (it expired, or was revoked): a
    # "no longer close to expiry" next to TokenInvalid would read as an all-clear.
    superseded = frozenset(
        alert_key(n, d.subject)
        for d in desired.values()
        if d.alertname == "TokenInvalid"
        for n in ("TokenExpiring", "TokenDataAccessExpiring")
    )
    return Context(cfg, now, read_mutes(session, now), facts, inspectors, superseded)


def _step(ctx: Context, key: str, stored: AlertState | None, d: Desired | None) -> tuple:
    subject = d if d is not None else stored
    assert subject is not None
    held = ctx.mutes.of_alert(subject.token_id, subject.labels)
    reason = None
    if stored is not None and resolves(stored, d):
        facts = ctx.facts.get(stored.token_id) if stored.token_id is not None else None
        app = stored.labels.get("app", "")
        reason = resolution_reason(stored, facts, inspector_changed_at=ctx.inspectors.get(app))
    new, emitted = step(stored, d, ctx.cfg.repeat_interval, ctx.now, held_until=held, reason=reason)
    if key in ctx.superseded:
        emitted = tuple(e for e in emitted if e.status != "resolved")
        if new is not None and new.status == "resolving":  # nothing owed: it ends without a word
            new = replace(new, status="resolved", notified_severity=None, held_until=None)
    return new, emitted
