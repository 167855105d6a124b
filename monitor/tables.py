"""Plain-text tables and JSON output for the listing commands."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

ANSI = {"red": "\033[31m", "yellow": "\033[33m", "green": "\033[32m", "dim": "\033[2m", "bold": "\033[1m"}
RESET = "\033[0m"
# Characters that steer a terminal instead of showing: C0 and C1 controls and DEL (ESC clears screens,
# moves the cursor, retitles windows) and the bidirectional overrides that reorder what is shown. Newline and
# tab are kept; an SGR colour sequence of our own is written by render_table after the cells are cleaned.
_STEERING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_OURS_OR_STEERING = re.compile("(\x1b\\[[0-9;]*m)|" + _STEERING.pattern)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every terminal-steering character shown as an escape (\\x1b), so an API message, a
    label or a name from a source cannot clear the screen or disguise what the table says."""
    return _STEERING.sub(lambda m: _escape(m.group()), text)


class PrintableStream:
    """A text stream that writes every steering character as an escape, except the SGR colour sequences
    the program writes itself. The CLI wraps stdout and stderr in it: nothing a peer said reaches the
    terminal raw, whichever code path prints it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_OURS_OR_STEERING.sub(lambda m: m.group(1) or _escape(m.group()), text))

    @property
    def unescaped(self) -> TextIO:
        """The wrapped stream, for output made entirely by the program (a progress bar's carriage returns)."""
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def use_colour(stream: TextIO) -> bool:
    import os

    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    colours: Sequence[str | None] | None = None,
    colour: bool = False,
) -> str:
    """Left-aligned columns; `colours[i]` names the colour of row i when `colour` is on."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for n, row in enumerate(rows):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        tint = colours[n] if colours else None
        if colour and tint:
            line = f"{ANSI[tint]}{line}{RESET}"
        lines.append(line)
    return "\n".join(lines)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
