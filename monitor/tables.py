"""Plain-text tables and JSON output for the listing commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

ANSI = {"red": "\033[31m", "yellow": "\033[33m", "green": "\033[32m", "dim": "\033[2m", "bold": "\033[1m"}
RESET = "\033[0m"


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
