"""Progress bars for long commands: tqdm on standard error, with the rate and the time left.

Only when both standard output and standard error are terminals and `--json` was not asked for: piped output
and scripts see nothing extra. The work below reports progress through a plain `tick(n)` callable, so it
knows nothing of terminals or of tqdm.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from monitor.tables import PrintableStream

Tick = Callable[[int], None]


def on_terminal(json_output: bool = False) -> bool:
    """Whether a progress bar may be drawn: both outputs are terminals and the output is not JSON."""
    return not json_output and sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, unit: str, description: str, *, enabled: bool) -> Iterator[Tick]:
    """A `tick(n)` that advances a bar of `total` items on standard error; a no-op when not `enabled`.

    The bar is erased when the work ends, so the command's own output follows as it would without it."""
    if not enabled or total <= 0:
        yield _ignore
        return
    # Imported here: only a command on a terminal pays for it.
    from tqdm import tqdm

    with tqdm(
        total=total, unit=f" {unit}", desc=description, file=_terminal(), leave=False, dynamic_ncols=True
    ) as bar:
        yield bar.update


def count_lines(path: Path) -> int:
    """The lines of a file, the total of a bar that reads it; 0 (no bar) when it cannot be read or is not
    a regular file (a device, a pipe: it may never end, and the reader stops at its first bad line)."""
    try:
        if not path.is_file():
            return 0
        with path.open("rb") as file:
            return sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 20), b""))
    except OSError:
        return 0  # the reader reports it


def _terminal() -> TextIO:
    """Standard error as the terminal sees it: the bar is ours alone, and its carriage returns must not be
    shown as escapes by the CLI's PrintableStream."""
    stream = sys.stderr
    return stream.unescaped if isinstance(stream, PrintableStream) else stream


def _ignore(count: int) -> None:
    """The tick of a command that draws no bar."""
