"""How checks report progress: a `tick(n)` callable, called with the number of items just finished (the
`check` command's progress bar), so the work knows nothing of terminals."""

from __future__ import annotations

from collections.abc import Callable

Tick = Callable[[int], None]
