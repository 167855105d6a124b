"""The registry's latest state for people: rows worst first (rows.py) and their words and table (render.py).
StatusRow itself, and how a row becomes one, live with the state rule (monitor.state.row)."""

from monitor.state.row import StatusRow, label_pairs, mute_of
from monitor.status.render import (
    COLUMNS,
    STATE_COLOURS,
    STATUS_COLUMNS,
    describe_state,
    last_check,
    status_table,
    until,
)
from monitor.status.rows import status_rows

__all__ = [
    "COLUMNS",
    "STATE_COLOURS",
    "STATUS_COLUMNS",
    "StatusRow",
    "describe_state",
    "label_pairs",
    "last_check",
    "mute_of",
    "status_rows",
    "status_table",
    "until",
]
