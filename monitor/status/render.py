"""A StatusRow in words and the status table for a terminal: shared by `status`, `check`, `edit`, the demo
(the table) and the pages (the words)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.state import FAILED, State, Verdict
from monitor.state.row import StatusRow
from monitor.tables import render_table
from monitor.timefmt import relative

STATE_COLOURS = {"invalid": "red", "critical": "red", "warning": "yellow", "unchecked": "dim", "ok": "green"}


def until(at: float | None, now: float) -> str:
    """'in 3 days 4 hours', '2 hours ago', or 'never'."""
    if at is None:
        return "never"
    return relative(at, now)


def horizon(row: StatusRow, at: float | None, now: float, word: str | None = None) -> str:
    """`until(at)`, or '-' while no check of the token got an answer: no horizon is known yet ('never' would
    say it does not expire); `word` ("never", "unknown": state.rule.expiry_word) when there is no date."""
    unanswered = row.last_success_at is None and row.last_result in (*FAILED, Verdict.INSPECTOR)
    if row.last_check_at is None or unanswered:
        return "-"
    return word or until(at, now)


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
    if row.state == State.INVALID and row.reason:
        return f"invalid ({row.reason})"
    if row.last_result in FAILED and row.state != State.UNCHECKED:
        return f"{row.state} (check failing)"
    if row.state == State.UNCHECKED and row.last_result == Verdict.INSPECTOR:
        return "unchecked (inspector problem)"
    if row.state == State.UNCHECKED and row.last_result in FAILED:
        return f"unchecked ({'throttled' if row.last_result == Verdict.THROTTLED else 'check failing'})"
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
    "platform": ("platform", lambda r, now: r.platform),
    "state": ("state", lambda r, now: describe_state(r)),
    "expires": ("expires", lambda r, now: horizon(r, r.expires_at, now, r.expiry)),
    "data_access": ("data access expires", lambda r, now: horizon(r, r.data_access_expires_at, now)),
    "last_check": ("last check", last_check),
    "scopes": ("scopes", lambda r, now: " ".join(r.scopes) or "-"),
    "source": ("source", lambda r, now: r.source or "manual"),
    "detail": ("detail", lambda r, now: r.last_error or "-"),
}
# The platform last: the columns before it read as they always did.
STATUS_COLUMNS = (
    "name",
    "app",
    "state",
    "expires",
    "data_access",
    "last_check",
    "scopes",
    "source",
    "platform",
)


def status_table(
    rows: Sequence[StatusRow], now: float, *, colour: bool, columns: Sequence[str] = STATUS_COLUMNS
) -> str:
    """The rows as an aligned text table, tinted by state when `colour` is on."""
    headers = [COLUMNS[c][0] for c in columns]
    cells = [[COLUMNS[c][1](r, now) for c in columns] for r in rows]
    return render_table(headers, cells, [STATE_COLOURS.get(r.state) for r in rows], colour=colour)
