"""Retention: drop history older than `[schedule] retention` (snapshots, keeping each token's newest row,
and stored callbacks).

One pass reads each snapshot older than the cutoff once, in `(observed_at, id)` order along an index, and
deletes those that a newer snapshot of the same token supersedes (found through the token's own index
range). A token unchanged for longer than the retention keeps its newest row; the pass steps over it instead
of reading it again for every batch, so a daily run costs about one row per token, whatever the fleet size,
and nothing between runs.
"""

from __future__ import annotations

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from monitor.db.models import Callback, Snapshot
from monitor.db.session import prefer_indexes, transaction


def prune(sessions: sessionmaker[Session], cutoff: float, batch: int = 5000) -> int:
    """Delete snapshots observed before `cutoff` that are not their token's newest, and callbacks received
    before it. Returns the number of snapshots deleted."""
    with transaction(sessions) as s:
        s.execute(delete(Callback).where(Callback.received_at < cutoff))
    removed = 0
    after: tuple[float, int] | None = None
    while True:
        with transaction(sessions) as s:
            # In (observed_at, id) order through its index: a planner that thinks the table small (a first
            # sweep's snapshots, before autovacuum's ANALYZE) read all of it and sorted, once per batch.
            prefer_indexes(s, in_order=True)
            rows = s.execute(_old_rows(cutoff, after, batch)).all()
            if not rows:
                return removed
            after = (rows[-1].observed_at, rows[-1].id)
            ids = list(s.scalars(_superseded([r.id for r in rows])).all())
            if ids:
                s.execute(delete(Snapshot).where(Snapshot.id.in_(ids)))
                removed += len(ids)


def _old_rows(cutoff: float, after: tuple[float, int] | None, batch: int) -> Select[int, float]:
    """The next `batch` snapshots older than `cutoff`, after position `after` in (observed_at, id) order."""
    stmt = select(Snapshot.id, Snapshot.observed_at).where(Snapshot.observed_at < cutoff)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(Snapshot.observed_at >= at, or_(Snapshot.observed_at > at, Snapshot.id > last_id))
    return stmt.order_by(Snapshot.observed_at, Snapshot.id).limit(batch)


def _superseded(ids: list[int]) -> Select[int]:
    """Those of `ids` whose token has a newer snapshot."""
    newer = aliased(Snapshot)
    return select(Snapshot.id).where(
        Snapshot.id.in_(ids),
        exists().where(newer.token_id == Snapshot.token_id, newer.id > Snapshot.id),
    )
