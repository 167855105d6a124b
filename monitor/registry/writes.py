"""Many writes at once, each a token to create or update: `tokens import` (with --replace), the registry
API's PUT. One plan reports every problem with the row it belongs to, then one apply writes all of it, so a
bad row changes nothing (all-or-nothing is the caller's transaction).

An update keeps the token's history and alert ladder: a new string is due for a check at once and the
last observation stays until then (an alert raised by the old string ends as "replaced" once the new one
is found fine). A field left out (None) keeps what the token has.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, fingerprint
from monitor.db.chunks import in_chunks
from monitor.db.models import App, Token
from monitor.registry.events import record_many
from monitor.registry.names import RegistryError, check_labels, check_name, check_token_string, label_diff
from monitor.registry.tokens import REFRESH_RESET, NewToken, check_key, insert_tokens, new_string_values

__all__ = ["Existing", "TokenWrite", "WritePlan", "apply_writes", "plan_writes"]

T = cast(Table, Token.__table__)


@dataclass(frozen=True)
class TokenWrite:
    """A token as a writer wants it. None: keep what an existing token has (a new one needs app and token)."""

    name: str
    app: str | None = None
    token: str | None = field(default=None, repr=False)
    labels: Mapping[str, str] | None = None
    auto_refresh: bool | None = None


@dataclass(frozen=True)
class Existing:
    """What the registry holds for a token a write names (no secret)."""

    id: int
    name: str
    app_id: int
    fingerprint: str
    labels: Mapping[str, str]
    auto_refresh: bool
    source: str | None


@dataclass
class WritePlan:
    """What applying `writes` would do, by index into them, and every problem found."""

    writes: Sequence[TokenWrite]
    app_ids: Mapping[str, int]
    existing: Mapping[str, Existing]
    added: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)  # a new string (labels, app may change too)
    updated: list[int] = field(default_factory=list)  # labels, app or auto-refresh only
    unchanged: list[int] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
        }


def plan_writes(
    session: Session, writes: Sequence[TokenWrite], *, replace: bool, sources: Collection[str] = ()
) -> WritePlan:
    """Sort each write into added / replaced / updated / unchanged, or a problem naming why not. Reads the
    apps and the named tokens (chunked by name), writes nothing."""
    app_ids = dict(session.execute(select(App.name, App.id)).all())
    plan = WritePlan(writes, app_ids, _existing(session, [w.name for w in writes]))
    seen: dict[str, int] = {}
    for index, write in enumerate(writes):
        try:
            if write.name in seen:
                raise RegistryError(f"token name {write.name!r} appears twice")
            seen[write.name] = index
            _sort(plan, index, write, replace, sources)
        except RegistryError as exc:
            plan.problems.append((index, str(exc)))
    return plan


def _sort(plan: WritePlan, index: int, w: TokenWrite, replace: bool, sources: Collection[str]) -> None:
    check_name(w.name, "token name")
    if w.token is not None:
        check_token_string(w.token)
    if w.labels is not None:
        check_labels(w.labels)
    if w.app is not None and w.app not in plan.app_ids:
        raise RegistryError(f"token {w.name!r}: no app named {w.app!r} (see `apps list`)")
    have = plan.existing.get(w.name)
    if have is None:
        if w.app is None or w.token is None:
            raise RegistryError(f"token {w.name!r} does not exist: a new token needs an app and a token")
        plan.added.append(index)
        return
    if not replace:
        raise RegistryError(f"a token named {w.name!r} already exists (--replace updates it)")
    if have.source is not None and have.source in sources:
        raise RegistryError(f"token {w.name!r} belongs to source {have.source!r}: change it there")
    if w.token is not None and fingerprint(w.token) != have.fingerprint:
        plan.replaced.append(index)
    elif _details(plan, w, have) != _details_of(have):
        plan.updated.append(index)
    else:
        plan.unchanged.append(index)


def _details(plan: WritePlan, w: TokenWrite, have: Existing) -> tuple[Any, ...]:
    """(labels, app id, auto_refresh) after the write."""
    labels = dict(w.labels) if w.labels is not None else dict(have.labels)
    app_id = plan.app_ids[w.app] if w.app is not None else have.app_id
    auto = w.auto_refresh if w.auto_refresh is not None else have.auto_refresh
    return labels, app_id, auto


def _details_of(have: Existing) -> tuple[Any, ...]:
    return dict(have.labels), have.app_id, have.auto_refresh


def _existing(session: Session, names: Sequence[str]) -> dict[str, Existing]:
    cols = (T.c.id, T.c.name, T.c.app_id, T.c.fingerprint, T.c.labels, T.c.auto_refresh, T.c.source)
    out: dict[str, Existing] = {}
    ordered = sorted(set(names))
    for chunk in in_chunks(ordered):
        for r in session.execute(select(*cols).where(T.c.name.in_(chunk))):
            out[r.name] = Existing(
                r.id, r.name, r.app_id, r.fingerprint, r.labels or {}, bool(r.auto_refresh), r.source
            )
    return out


def apply_writes(
    session: Session,
    vault: Vault,
    plan: WritePlan,
    *,
    now: float,
    via: str,
    tick: Callable[[int], None] | None = None,
) -> None:
    """Write a plan without problems (RegistryError otherwise: nothing is written)."""
    if plan.problems:
        raise RegistryError(plan.problems[0][1])
    check_key(session, vault)
    w = plan.writes
    new = [w[i] for i in plan.added]
    insert_tokens(
        session,
        vault,
        [
            NewToken(t.name, t.app or "", t.token or "", dict(t.labels or {}), bool(t.auto_refresh))
            for t in new
        ],
        plan.app_ids,
        now=now,
        tick=tick,
    )
    _replace(session, vault, plan, now, via)
    _update(session, plan, plan.updated, now, via)
    if tick is not None:
        tick(len(plan.replaced) + len(plan.updated) + len(plan.unchanged))


_STRING = (
    update(T)
    .where(T.c.id == bindparam("b_id"), T.c.fingerprint == bindparam("b_old"))
    .values(
        secret=bindparam("b_secret"),
        fingerprint=bindparam("b_fp"),
        labels=bindparam("b_labels", type_=T.c.labels.type),
        app_id=bindparam("b_app"),
        auto_refresh=bindparam("b_auto"),
        secret_changed_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        next_check_at=bindparam("b_now"),
        writeback_error=None,
        **REFRESH_RESET,
    )
)


def _replace(session: Session, vault: Vault, plan: WritePlan, now: float, via: str) -> None:
    """New strings, in chunks: written only where the old string is still the one planned against."""
    for chunk in in_chunks(plan.replaced):
        params, events = [], []
        for index in chunk:
            write, have = plan.writes[index], plan.existing[plan.writes[index].name]
            labels, app_id, auto = _details(plan, write, have)
            values = new_string_values(vault, write.token or "", now)
            params.append(
                {"b_id": have.id, "b_old": have.fingerprint, "b_secret": values["secret"],
                 "b_fp": values["fingerprint"], "b_labels": labels, "b_app": app_id, "b_auto": auto,
                 "b_now": now}
            )  # fmt: skip
            events.append((have.id, values["fingerprint"], have.fingerprint, None))
        rows = session.connection().execute(_STRING, params).rowcount
        if rows != len(params):  # a refresh or another writer changed a string since the plan was made
            raise RegistryError("a token's string changed while this write ran: run it again")
        record_many(session, events, "replaced", via, now)
        _labels_changed(session, plan, chunk, now, via)


_DETAILS = (
    update(T)
    .where(T.c.id == bindparam("b_id"))
    .values(
        labels=bindparam("b_labels", type_=T.c.labels.type),
        app_id=bindparam("b_app"),
        auto_refresh=bindparam("b_auto"),
        updated_at=bindparam("b_now"),
    )
)


def _update(session: Session, plan: WritePlan, indexes: Sequence[int], now: float, via: str) -> None:
    """Labels, app and auto-refresh of tokens whose string stays."""
    for chunk in in_chunks(indexes):
        params, moved, switched = [], [], []
        for index in chunk:
            write, have = plan.writes[index], plan.existing[plan.writes[index].name]
            labels, app_id, auto = _details(plan, write, have)
            params.append(
                {"b_id": have.id, "b_labels": labels, "b_app": app_id, "b_auto": auto, "b_now": now}
            )
            if app_id != have.app_id:
                moved.append(have.id)  # another app's inspector: check again at once
            if auto != have.auto_refresh:
                switched.append(have.id)
        session.connection().execute(_DETAILS, params)
        if moved:
            session.execute(update(T).where(T.c.id.in_(moved)).values(next_check_at=now))
        if switched:
            session.execute(update(T).where(T.c.id.in_(switched)).values(**REFRESH_RESET))
        _labels_changed(session, plan, chunk, now, via)


def _labels_changed(session: Session, plan: WritePlan, indexes: Sequence[int], now: float, via: str) -> None:
    events = []
    for index in indexes:
        write, have = plan.writes[index], plan.existing[plan.writes[index].name]
        if write.labels is not None and dict(write.labels) != dict(have.labels):
            events.append((have.id, None, None, label_diff(have.labels, write.labels)))
    if events:
        record_many(session, events, "labels", via, now)
