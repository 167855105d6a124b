"""What the registry API answers about tokens: the state and facts of each (as `status --json` shows them),
its fingerprint, never its string. Reads only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from monitor.api.parse import ListQuery, encode_cursor
from monitor.db.models import App, Token
from monitor.state import Horizons
from monitor.state.row import StatusRow
from monitor.state.sql import STATUS_SELECT, state_case

__all__ = ["list_tokens", "token_view"]

_COLUMNS = (*STATUS_SELECT, Token.fingerprint, Token.auto_refresh, Token.last_check_at)


def _json(row: Any, h: Horizons, now: float) -> dict[str, Any]:
    out = StatusRow.from_row(row._mapping, h, now).to_json()
    out["fingerprint"], out["auto_refresh"] = row.fingerprint, bool(row.auto_refresh)
    return out


def _query(where: ColumnElement[bool]) -> Any:
    return select(*_COLUMNS).join(App, Token.app_id == App.id).where(where)


def token_view(session: Session, name: str, h: Horizons, now: float) -> dict[str, Any] | None:
    """One token by name (its unique index), or None."""
    row = session.execute(_query(Token.name == name)).first()
    return None if row is None else _json(row, h, now)


def list_tokens(
    session: Session, q: ListQuery, h: Horizons, now: float, app_id: Callable[[str], int | None]
) -> dict[str, Any]:
    """A page of tokens by name after the cursor (a keyset: each page walks the name index from where the
    last one ended), filtered by app and state; `next_cursor` is null on the last page."""
    where: ColumnElement[bool] = true()
    if q.app is not None:
        found = app_id(q.app)
        if found is None:
            return {"tokens": [], "next_cursor": None}
        where = Token.app_id == found
    if q.platform is not None:
        where = where & Token.app_id.in_(select(App.id).where(App.platform == q.platform))
    if q.after is not None:
        where = where & (Token.name > q.after)
    if q.state is not None:
        where = where & (state_case(h, now) == q.state)
    rows = session.execute(_query(where).order_by(Token.name).limit(q.limit + 1)).all()
    page = [_json(r, h, now) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return {"tokens": page, "next_cursor": encode_cursor(page[-1]["name"]) if more and page else None}
