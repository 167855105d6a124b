"""The registry's latest state as rows, worst first: shared by `status`, the status page and the demo."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import App, Token
from monitor.state import Horizons, State, mute_in_force, token_state, trouble_key
from monitor.tables import render_table
from monitor.timefmt import humanize_duration, iso_utc

STATE_COLOURS = {"invalid": "red", "critical": "red", "warning": "yellow", "unchecked": "dim", "ok": "green"}


@dataclass(frozen=True)
class StatusRow:
    name: str
    app: str
    state: str
    expires_at: float | None
    data_access_expires_at: float | None
    last_check_at: float | None
    last_result: str | None
    last_error: str | None
    scopes: tuple[str, ...]
    source: str | None
    reason: str | None
    labels: tuple[tuple[str, str], ...] = ()
    last_success_at: float | None = None
    callback_check_at: float | None = None  # the last check a callback or the recheck API asked for
    callback_check_reason: str | None = None  # deauthorize | recheck
    muted_until: float | None = None  # the mute in force (the token's own or its app's), until then
    mute_comment: str | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        for key in (
            "expires_at",
            "data_access_expires_at",
            "last_check_at",
            "last_success_at",
            "callback_check_at",
            "muted_until",
        ):
            out[key] = iso_utc(out[key]) if out[key] else None
        out["scopes"] = list(self.scopes)
        out["labels"] = dict(self.labels)
        return out


def label_pairs(labels: object) -> tuple[tuple[str, str], ...]:
    """A token's JSON labels as sorted (key, value) text pairs (anything but a dict gives none)."""
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


NAMES_PER_QUERY = 1000  # names per IN (...) list: below every database's parameter limit


def status_rows(
    session: Session, horizons: Horizons, now: float, names: Collection[str] | None = None
) -> list[StatusRow]:
    """Every token's row, worst first; or only the tokens named in `names`, read through the name index
    (the cost of `check NAME` or `status NAME` does not grow with the fleet)."""
    if names is None:
        rows = [status_row_of(r, horizons, now) for r in session.execute(_STATUS_QUERY)]
    else:
        wanted = sorted(set(names))
        rows = [
            status_row_of(r, horizons, now)
            for i in range(0, len(wanted), NAMES_PER_QUERY)
            for r in session.execute(_STATUS_QUERY.where(Token.name.in_(wanted[i : i + NAMES_PER_QUERY])))
        ]
    rows.sort(key=lambda r: (*trouble_key(State(r.state), r.expires_at, r.data_access_expires_at), r.name))
    return rows


STATUS_SELECT = (
    Token.name,
    App.name,
    Token.is_valid,
    Token.expires_at,
    Token.data_access_expires_at,
    Token.last_check_at,
    Token.last_result,
    Token.last_error,
    Token.scopes,
    Token.source,
    Token.invalid_reason,
    App.inspector_state,
    Token.labels,
    Token.last_success_at,
    Token.callback_check_at,
    Token.callback_check_reason,
    Token.muted_until,
    Token.mute_comment,
    App.muted_until,
    App.mute_comment,
)  # what a StatusRow is made of; the status pages select the same
_STATUS_QUERY = select(*STATUS_SELECT).join(App, Token.app_id == App.id)


def status_row_of(row: Sequence[Any], horizons: Horizons, now: float) -> StatusRow:
    """A row of STATUS_SELECT's columns (more may follow: they are ignored) as a StatusRow."""
    (
        name,
        app,
        valid,
        exp,
        dae,
        checked,
        result,
        error,
        scopes,
        source,
        reason,
        inspector,
        labels,
        success,
        callback_at,
        callback_reason,
        *mutes,
    ) = row[: len(STATUS_SELECT)]
    if inspector == "invalid":  # no verdict on the token: its app's inspector credential is refused
        result = "inspector"
    state = token_state(
        is_valid=valid,
        expires_at=exp,
        data_access_expires_at=dae,
        last_result=result,
        horizons=horizons,
        now=now,
    )
    scope_list = tuple((scopes or "").split())
    return StatusRow(
        name, app, state.value, exp, dae, checked, result, error, scope_list, source, reason,
        label_pairs(labels), success, callback_at, callback_reason, *mute_of(*mutes[:4], now=now),
    )  # fmt: skip


def mute_of(
    token_until: float | None,
    token_comment: str | None,
    app_until: float | None,
    app_comment: str | None,
    *,
    now: float,
) -> tuple[float | None, str | None]:
    """(end, comment) of the mute in force on a token (its own, or its app's when that lasts longer)."""
    until = mute_in_force(token_until, app_until, now)
    if until is None:
        return None, None
    return until, token_comment if until == token_until else app_comment


def until(at: float | None, now: float) -> str:
    """'in 3 days 4 hours', '2 hours ago', or 'never'."""
    if at is None:
        return "never"
    left = at - now
    return f"in {humanize_duration(left)}" if left >= 0 else f"{humanize_duration(-left)} ago"


ASKED_CHECK_TAKES = 120.0  # seconds from a queued check's claim to its stored result, at most


def last_check(row: StatusRow, now: float) -> str:
    """'3 minutes ago', with ', asked by a deauthorize callback' (or the recheck API) when it was."""
    if row.last_check_at is None:
        return "never"
    text = until(row.last_check_at, now)
    started = row.callback_check_at
    # The asked-for check stored its result right after it started; a later check was a scheduled one.
    if started is not None and 0 <= row.last_check_at - started <= ASKED_CHECK_TAKES:
        text += (
            ", by a deauthorize callback" if row.callback_check_reason == "deauthorize" else ", by a recheck"
        )
    return text


def _describe(row: StatusRow) -> str:
    if row.state == "invalid" and row.reason:
        return f"invalid ({row.reason})"
    if row.last_result in ("error", "throttled") and row.state != "unchecked":
        return f"{row.state} (check failing)"
    if row.state == "unchecked" and row.last_result == "inspector":
        return "unchecked (inspector problem)"
    if row.state == "unchecked" and row.last_result in ("error", "throttled"):
        return f"unchecked ({'throttled' if row.last_result == 'throttled' else 'check failing'})"
    if row.last_check_at is None:
        return "never checked"
    return row.state


def describe_state(row: StatusRow) -> str:
    """The state in words, with ", muted" while a mute is in force."""
    text = _describe(row)
    return f"{text}, muted" if row.muted_until is not None else text


# The columns a status table can show, each a header and how to fill it (shared by `status`, `check`, demo).
COLUMNS: dict[str, tuple[str, Callable[[StatusRow, float], str]]] = {
    "name": ("name", lambda r, now: r.name),
    "app": ("app", lambda r, now: r.app),
    "state": ("state", lambda r, now: describe_state(r)),
    "expires": ("expires", lambda r, now: until(r.expires_at, now)),
    "data_access": ("data access expires", lambda r, now: until(r.data_access_expires_at, now)),
    "last_check": ("last check", last_check),
    "scopes": ("scopes", lambda r, now: " ".join(r.scopes) or "-"),
    "source": ("source", lambda r, now: r.source or "manual"),
    "detail": ("detail", lambda r, now: r.last_error or "-"),
}
STATUS_COLUMNS = ("name", "app", "state", "expires", "data_access", "last_check", "scopes", "source")


def status_table(
    rows: Sequence[StatusRow], now: float, *, colour: bool, columns: Sequence[str] = STATUS_COLUMNS
) -> str:
    """The rows as an aligned text table, tinted by state when `colour` is on."""
    headers = [COLUMNS[c][0] for c in columns]
    cells = [[COLUMNS[c][1](r, now) for c in columns] for r in rows]
    return render_table(headers, cells, [STATE_COLOURS.get(r.state) for r in rows], colour=colour)
