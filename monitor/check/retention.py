"""Retention: drop history older than `[schedule] retention` (snapshots, keeping each token's newest row,
and stored callbacks)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import Callback, Snapshot
from monitor.db.session import transaction


def prune(sessions: sessionmaker[Session], cutoff: float, batch: int = 5000) -> int:
    """Delete snapshots observed before `cutoff` that are not their token's newest, and callbacks received
    before it. Returns the number of snapshots deleted."""
    with transaction(sessions) as s:
        s.execute(delete(Callback).where(Callback.received_at < cutoff))
    newest = select(func.max(Snapshot.id)).group_by(Snapshot.token_id).scalar_subquery()
    removed = 0
    while True:
        with transaction(sessions) as s:
            ids = list(
                s.scalars(
                    select(Snapshot.id)
                    .where(Snapshot.observed_at < cutoff, Snapshot.id.not_in(newest))
                    .limit(batch)
                ).all()
            )
            if not ids:
                return removed
            s.execute(delete(Snapshot).where(Snapshot.id.in_(ids)))
            removed += len(ids)
