"""The registry's latest state as rows, worst first: shared by `status`, `check`, the demo and the API."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.chunks import in_chunks
from monitor.db.models import App, Token
from monitor.state import Horizons, State, trouble_key
from monitor.state.row import StatusRow
from monitor.state.sql import STATUS_SELECT

_STATUS_QUERY = select(*STATUS_SELECT).join(App, Token.app_id == App.id)


def status_rows(
    session: Session, horizons: Horizons, now: float, names: Collection[str] | None = None
) -> list[StatusRow]:
    """Every token's row, worst first; or only the tokens named in `names`, read through the name index
    (the cost of `check NAME` or `status NAME` does not grow with the fleet)."""
    if names is None:
        found = [r._mapping for r in session.execute(_STATUS_QUERY)]
    else:
        wanted = sorted(set(names))
        found = [
            r._mapping
            for chunk in in_chunks(wanted)
            for r in session.execute(_STATUS_QUERY.where(Token.name.in_(chunk)))
        ]
    rows = [StatusRow.from_row(r, horizons, now) for r in found]
    rows.sort(key=lambda r: (*trouble_key(State(r.state), r.expires_at, r.data_access_expires_at), r.name))
    return rows
