"""Which alerts should be firing, read from the stored state through indexes: the tokens in or near trouble
(a union of one indexed lookup per kind of trouble), the tokens a write or time changed since the previous
evaluation, and the open alerts (firing, or resolving under a mute) of a set of tokens."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import fields

from sqlalchemy import ColumnElement, CompoundSelect, Select, select, union
from sqlalchemy.orm import Session

from monitor.alerting.ladder import OPEN
from monitor.alerting.rules import Desired, TokenFacts, app_alerts, source_alerts, token_alerts
from monitor.config.load import AlertsConfig
from monitor.db.chunks import in_chunks
from monitor.db.models import Alert, App, Source, Token
from monitor.state import Horizons
from monitor.state.sql import inspector_refused, trouble

__all__ = [
    "SLACK",
    "desired_alerts",
    "facts_of",
    "open_alerts",
    "read_facts",
    "subject_desired",
    "timely_ids",
    "token_desired",
]
__all__ += ["trouble_ids", "written_since"]


_FACT_COLUMNS = (
    Token.id,
    Token.name,
    Token.app_id,
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
    Token.secret_changed_at,
    Token.last_refresh_at,
    Token.token_type,
    Token.granular_scopes,
    Token.expected_targets,
)
# How long before its commit a write may stamp `tokens.updated_at` (a check's results are stamped right
# before their transaction; the clocks of several daemons differ by milliseconds under NTP): an incremental
# evaluation reads the changes of this much before the previous one again. A write later than that is
# seen by the next full evaluation (monitor.alerting.job.FULL_EVERY).
SLACK = 5.0


def trouble_ids(cfg: AlertsConfig, now: float) -> CompoundSelect:
    """The ids of the tokens in monitor.state.sql.trouble, as a UNION of one indexed lookup per condition.

    One OR over the conditions is read through every index by PostgreSQL when its statistics are fresh,
    but as "every valid token" when they are stale, and as a whole-table scan by SQLite; the union reads
    the tokens in trouble and nothing else on both, whatever the statistics say.
    """
    conditions = trouble(Horizons.from_alerts(cfg), now)
    return union(*(select(Token.id).where(condition) for condition in conditions))


def written_since(since: float) -> Select[int, float]:
    """(id, updated_at) of the tokens a write changed since `since` (the previous evaluation): every write
    of what the alert rules read stamps `updated_at` (see SLACK)."""
    return select(Token.id, Token.updated_at).where(Token.updated_at > since - SLACK)


def timely_ids(cfg: AlertsConfig, since: float, now: float) -> CompoundSelect:
    """The ids of the tokens whose alerts time alone may have changed between `since` and `now`, as a UNION
    of indexed ranges: a warning or critical threshold of either horizon crossed, a check failure that
    reached `check_failing_after`, a firing alert whose repeat fell due (unless a mute holds it), a mute
    that ended and held something back."""
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
            Alert.held_until.is_(None),
            Alert.last_notified_at <= now - cfg.repeat_interval,
            Alert.token_id.is_not(None),
        ),
        select(Alert.token_id).where(
            Alert.held_until > since, Alert.held_until <= now, Alert.token_id.is_not(None)
        ),
    )


_FACT_NAMES = frozenset(f.name for f in fields(TokenFacts))


def read_facts(session: Session, where: ColumnElement[bool]) -> list[TokenFacts]:
    """What the rules read about the tokens `where` selects. Their apps' names and platforms are read apart,
    by primary key: joined, the planner read every token of the app (or the whole table) to find a few."""
    rows = session.execute(select(*_FACT_COLUMNS).where(where)).all()
    wanted = sorted({r.app_id for r in rows})
    apps: dict[int, tuple[str, str]] = {}
    for chunk in in_chunks(wanted):
        stmt = select(App.id, App.name, App.platform).where(App.id.in_(chunk))
        apps.update((i, (name, platform)) for i, name, platform in session.execute(stmt))
    out = []
    for row in rows:
        values = {k: v for k, v in row._mapping.items() if k in _FACT_NAMES}
        values["app"], values["platform"] = apps[row.app_id]
        out.append(TokenFacts(**values))
    return out


def token_desired(
    session: Session,
    cfg: AlertsConfig,
    now: float,
    where: ColumnElement[bool],
    facts: MutableMapping[int, TokenFacts] | None = None,
) -> dict[str, Desired]:
    """The alerts that should be firing now for the tokens `where` selects, by key (their facts go into
    `facts`, by token id, when given)."""
    out: dict[str, Desired] = {}
    for t in read_facts(session, where):
        if facts is not None:
            facts[t.id] = t
        out.update((d.key, d) for d in token_alerts(t, cfg, now))
    return out


def facts_of(session: Session, ids: Sequence[int], facts: MutableMapping[int, TokenFacts]) -> None:
    """Add the facts of the tokens `ids` (chunked) to `facts`."""
    wanted = sorted(set(ids) - set(facts))
    for chunk in in_chunks(wanted):
        facts.update((t.id, t) for t in read_facts(session, Token.id.in_(chunk)))


def subject_desired(session: Session) -> dict[str, Desired]:
    """The alerts that should be firing now for apps (InspectorInvalid) and sources (SourceFailing)."""
    out: dict[str, Desired] = {}
    for app, reason in session.execute(select(App.name, App.inspector_reason).where(inspector_refused())):
        out.update((d.key, d) for d in app_alerts(app, reason))
    for name, error in session.execute(
        select(Source.name, Source.last_error).where(Source.last_error.is_not(None))
    ):
        out.update((d.key, d) for d in source_alerts(name, error))
    return out


def desired_alerts(
    session: Session, cfg: AlertsConfig, now: float, facts: MutableMapping[int, TokenFacts] | None = None
) -> dict[str, Desired]:
    """Every alert that should be firing now, by key."""
    troubled = token_desired(session, cfg, now, Token.id.in_(trouble_ids(cfg, now)), facts)
    return troubled | subject_desired(session)


def open_alerts(session: Session, where: ColumnElement[bool]) -> dict[str, Alert]:
    """The open alerts (firing, or resolving under a mute) among those `where` selects, by key. The status
    is filtered here: "status IN (...) AND token_id IN (...)" was read through the status index, every
    firing alert per chunk, while the alerts table had no statistics yet."""
    return {a.key: a for a in session.scalars(select(Alert).where(where)) if a.status in OPEN}
