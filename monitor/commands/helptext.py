"""Help text helpers: every command's --help ends with example lines a user can copy."""

from __future__ import annotations

PROG = "threads-token-monitor"


def examples(*lines: str) -> str:
    """An argparse epilog: "examples:" and one `threads-token-monitor ...` line per argument."""
    return "examples:\n" + "\n".join(f"  {PROG} {line}" for line in lines)


JSON_HELP = "print JSON instead of a table (for scripts)"
