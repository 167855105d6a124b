"""What the status page's search finds (`matches`, the one definition), and how the database is asked.

`q` matches a token whose name, app name, or one label's key or value holds it, case folded the Unicode way
(str.casefold: "STRASSE" finds "Straße"); `key=value` matches a token whose label `key` has exactly that
whole value (case folded too: "team=growth" does not find "growth-eu").

The database answers most of it: names, app names and label keys are ASCII (the registry allows nothing
else), and labels are stored as JSON whose non-ASCII characters are \\u escapes, so for tokens whose labels
are ASCII, LIKE on lowered text is exactly casefold. Tokens with a non-ASCII label (their JSON holds "\\u")
are read and judged here in Python, as is everything when the text holds a character JSON spells otherwise
(a quote, a backslash) or only JSON's own punctuation: correct first, and the usual search stays in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, cast, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from monitor.db.models import App, Token

__all__ = ["matches", "search_clause"]

ESCAPED = "\\u"  # how stored JSON spells every non-ASCII character
PUNCTUATION = set('{}:, "\\')  # what JSON writes around and inside strings on its own


def matches(q: str, name: str, app: str, labels: Mapping[str, Any]) -> bool:
    """Whether the search text `q` finds a token with this name, app name and labels."""
    key, sep, value = q.partition("=")
    if sep and key.strip():
        k, v = key.strip().casefold(), value.strip().casefold()
        return any(str(lk).casefold() == k and str(lv).casefold() == v for lk, lv in labels.items())
    needle = q.casefold()
    texts = [name, app, *(str(part) for pair in labels.items() for part in pair)]
    return any(needle in text.casefold() for text in texts)


def search_clause(session: Session, q: str, app_filter: ColumnElement[bool], few: int) -> ColumnElement[bool]:
    """A WHERE clause holding exactly the tokens `matches(q, ...)` finds among those of `app_filter`: their
    ids when at most `few` (what follows then reads them by primary key), else a clause to search with.

    One pass reads the ids SQL matches and the labels of the tokens it cannot judge (non-ASCII labels),
    which are judged here; a text SQL cannot say exactly has every token judged here."""
    exact = _sql(q, fold=session.get_bind().dialect.name != "sqlite")
    if exact is None:
        return _ids(_judge(session, q, app_filter, true()))
    escaped = cast(Token.labels, String).contains(ESCAPED, autoescape=True)
    rows = session.execute(
        select(Token.id, escaped, Token.name, App.name, Token.labels)
        .join(App, Token.app_id == App.id)
        .where(app_filter, or_(exact, escaped))
        .limit(few + 1)
    ).all()
    if len(rows) <= few:  # all of them: a search of at most `few` is answered by primary key
        return _ids(
            [i for i, judge, name, app, labels in rows if not judge or matches(q, name, app, _dict(labels))]
        )
    return or_(exact, _ids(_judge(session, q, app_filter, escaped)))


def _ids(ids: list[int]) -> ColumnElement[bool]:
    # Inline integers: a broad search may find more tokens than a statement may have parameters.
    return Token.id.in_(bindparam("found", ids, expanding=True, literal_execute=True))


def _labels_text(fold: bool) -> Any:
    text = cast(Token.labels, String)
    return func.lower(text) if fold else text


def _sql(q: str, fold: bool) -> ColumnElement[bool] | None:
    """The tokens with ASCII labels that `q` finds, as SQL; None when SQL cannot say it exactly."""
    lower = (lambda column: func.lower(column)) if fold else (lambda column: column)
    labels = _labels_text(fold)
    key, sep, value = q.partition("=")
    if sep and key.strip():
        k, v = key.strip().casefold(), value.strip().casefold()
        if not (k + v).isascii():
            return false()  # keys are ASCII, and ASCII values never fold to it: non-ASCII labels only
        if PUNCTUATION & set(k + v):
            return None
        pair = f'"{k}": "{v}"'  # with the closing quote: the whole value, not a prefix of it
        # Exact for every token: a non-ASCII value never spells `"k": "v"` with ASCII v; those that fold
        # to it ("ſ" to "s") are judged in Python.
        return labels.contains(pair, autoescape=True)
    needle = q.casefold()
    if not needle.isascii():
        return false()  # ASCII text never folds to it: only tokens with non-ASCII labels can match
    if set(needle) <= PUNCTUATION or set(needle) & set('"\\'):
        return None
    ascii_labels = not_(cast(Token.labels, String).contains(ESCAPED, autoescape=True))
    apps = select(App.id).where(lower(App.name).contains(needle, autoescape=True))
    return or_(
        lower(Token.name).contains(needle, autoescape=True),
        Token.app_id.in_(apps.scalar_subquery()),
        # The ASCII test second: it runs only where the text matched (escapes hold letters and digits).
        and_(labels.contains(json.dumps(needle)[1:-1], autoescape=True), ascii_labels),
    )


def _judge(
    session: Session, q: str, app_filter: ColumnElement[bool], which: ColumnElement[bool]
) -> list[int]:
    """Ids of the tokens among `which` (and `app_filter`) that `matches` finds, judged here."""
    rows = session.execute(
        select(Token.id, Token.name, App.name, Token.labels)
        .join(App, Token.app_id == App.id)
        .where(which, app_filter)
    )
    return [i for i, name, app, labels in rows if matches(q, name, app, _dict(labels))]


def _dict(labels: object) -> Mapping[str, Any]:
    return labels if isinstance(labels, dict) else {}
