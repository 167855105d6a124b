"""The argument parser's habits: usage errors exit 2, a mistyped command or choice gets "did you mean", and an
option that belongs everywhere (`--config`) is accepted before or after any command and subcommand."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator
from typing import Any

EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """Exits 2 on a usage error; descriptions and example epilogs are printed as written; an unknown command
    or choice is answered with the closest known one, as `kubectl` and the config validator do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        names = [str(choice) for choice in action.choices]
        close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" (choose from {', '.join(names)})"
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown command {value!r}{hint}")
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")


def every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every command and subcommand parser under it, each once (aliases share a parser)."""
    seen: set[int] = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())


def add_everywhere(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """Add the option to `parser` and to every parser below it, so it may stand before or after any
    command. Below the top it defaults to SUPPRESS: a subcommand that does not see the option leaves the
    value given (or defaulted) further up alone, and the last one given wins."""
    for current in every_parser(parser):
        below = {} if current is parser else {"default": argparse.SUPPRESS}
        current.add_argument(*flags, **{**kwargs, **below})
