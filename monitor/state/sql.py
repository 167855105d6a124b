"""The state rule (monitor.state.rule) written for queries: every SQL form of it lives here, beside the
columns a StatusRow is made of. tests/state/test_sql_forms.py holds each form to the Python rule on SQLite,
PostgreSQL and MariaDB.

A token's state is not stored: it depends on `now` and the thresholds. The forms differ in what an index can
answer: `state_case` computes the state of rows already chosen; `problems_filter`, `bucket_clauses` and
`trouble` choose rows, each term readable through an index of its own, so the few tokens in trouble are read
and not the fleet. Tokens of an app whose inspector credential is refused are unchecked: the queries that
choose rows take those apps' ids (`refused_apps_query`, a tiny table read first).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, true

from monitor.db.models import App, Token
from monitor.state.rule import ANSWERED, FAILED, Horizons, InspectorState, State, Verdict

__all__ = [
    "NEVER",
    "STATUS_SELECT",
    "bucket_clauses",
    "inspector_refused",
    "problems_filter",
    "refused_apps_query",
    "state_case",
    "trouble",
]

NEVER = 1e18  # stands for a horizon that never comes (NULL), later than any timestamp

# What a StatusRow is made of (monitor.state.row.StatusRow.from_row reads them by these names).
STATUS_SELECT = (
    Token.name,
    App.name.label("app"),
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
    App.muted_until.label("app_muted_until"),
    App.mute_comment.label("app_mute_comment"),
    App.platform,
    Token.token_type,
    Token.expiry_source,
    Token.validity_source,
)


def inspector_refused() -> ColumnElement[bool]:
    """The apps whose inspector credential was refused (their tokens are all unchecked)."""
    return App.inspector_state == InspectorState.INVALID.value


def refused_apps_query() -> Select:
    """The ids of the apps whose inspector credential was refused."""
    return select(App.id).where(inspector_refused())


def _unchecked() -> ColumnElement[bool]:
    """UNCHECKED of token_state, with seen_result's override (the query joins apps)."""
    return or_(Token.last_result == Verdict.INSPECTOR.value, Token.is_valid.is_(None), inspector_refused())


def state_case(h: Horizons, now: float) -> ColumnElement[str]:
    """token_state as a CASE over a row of tokens joined with its app."""
    critical = or_(
        Token.expires_at <= now + h.expiry_critical,
        Token.data_access_expires_at <= now + h.data_access_critical,
    )
    warning = or_(
        Token.expires_at <= now + h.expiry_warning,
        Token.data_access_expires_at <= now + h.data_access_warning,
    )
    return case(
        (_unchecked(), State.UNCHECKED.value),
        (Token.is_valid.is_(False), State.INVALID.value),
        (critical, State.CRITICAL.value),
        (warning, State.WARNING.value),
        else_=State.OK.value,
    )


def problems_filter(h: Horizons, now: float, refused_apps: Sequence[int] = ()) -> ColumnElement[bool]:
    """Every token whose state is not OK, and those whose latest check got no answer (a superset: the rows
    outside it are all OK). No join: `refused_apps` are the ids from refused_apps_query.

    Every term can be read through an index of its own: "not valid" is spelt as false or NULL, "not
    answered" as the other verdicts.
    """
    unanswered = [v.value for v in Verdict if v not in ANSWERED]
    terms = [
        Token.is_valid.is_(False),
        Token.is_valid.is_(None),
        Token.last_result.is_(None),
        Token.last_result.in_(unanswered),
        Token.expires_at <= now + h.expiry_warning,
        Token.data_access_expires_at <= now + h.data_access_warning,
    ]
    if refused_apps:
        terms.append(Token.app_id.in_(list(refused_apps)))
    return or_(*terms)


def _checked(refused_apps: Sequence[int]) -> ColumnElement[bool]:
    """Not unchecked for a reason other than is_valid (which each bucket tests itself)."""
    answered = func.coalesce(Token.last_result, "") != Verdict.INSPECTOR.value
    return and_(answered, Token.app_id.not_in(refused_apps)) if refused_apps else answered


def _near(now: float, expiry: float, data_access: float) -> tuple[ColumnElement[bool], ...]:
    """(inside the window on either horizon, outside it on both): NULL means never expires.

    Only "inside" may use the horizon indexes; "outside" holds nearly every token, so its columns are
    wrapped (a planner without statistics, SQLite's, would otherwise walk the index for it).
    """
    exp, dae = now + expiry, now + data_access
    inside = or_(Token.expires_at <= exp, Token.data_access_expires_at <= dae)
    outside = and_(
        func.coalesce(Token.expires_at, NEVER) > exp,
        func.coalesce(Token.data_access_expires_at, NEVER) > dae,
    )
    return inside, outside


def bucket_clauses(h: Horizons, now: float, refused_apps: Sequence[int]) -> dict[str, ColumnElement[bool]]:
    """A WHERE clause per bucket (rule.BUCKETS, rule.bucket_of); together they split the tokens with no
    overlap. No join: `refused_apps` are the ids from refused_apps_query."""
    checked = _checked(refused_apps)
    # Wrapped: SQLite's planner has no statistics and would walk the is_valid index, true for nearly all.
    valid = and_(checked, func.coalesce(Token.is_valid, false()) == true())
    critical, not_critical = _near(now, h.expiry_critical, h.data_access_critical)
    warning, not_warning = _near(now, h.expiry_warning, h.data_access_warning)
    failed_values = [v.value for v in FAILED]
    failed = Token.last_result.in_(failed_values)
    unchecked = or_(Token.is_valid.is_(None), Token.last_result == Verdict.INSPECTOR.value)
    not_failed = or_(Token.last_result.is_(None), Token.last_result.not_in(failed_values))
    return {
        "invalid": and_(Token.is_valid == false(), checked),
        "critical": and_(critical, valid),
        "warning": and_(warning, valid, not_critical),
        "failing": and_(failed, valid, not_warning),
        "unchecked": or_(unchecked, Token.app_id.in_(refused_apps)) if refused_apps else unchecked,
        "ok": and_(valid, not_warning, not_failed),
    }


def trouble(h: Horizons, now: float) -> list[ColumnElement[bool]]:
    """SQL conditions, one per kind of trouble, selecting every token an alert rule could fire for (a
    superset: the rules decide; every invalid, critical or warning token is in it). Each is a range or an
    equality on one indexed column."""
    return [
        Token.is_valid.is_(False),
        Token.failing_since.is_not(None),
        Token.refresh_error.is_not(None),
        Token.expires_at <= now + max(h.expiry_warning, h.expiry_critical),
        Token.data_access_expires_at <= now + max(h.data_access_warning, h.data_access_critical),
        Token.scopes_lost.is_(True),
    ]
