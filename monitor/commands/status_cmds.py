"""`status`: the registry and the latest state, soonest trouble first. No API calls."""

from __future__ import annotations

import argparse
import sys

from monitor.commands.helptext import JSON_HELP, examples
from monitor.context import Context
from monitor.status import status_rows, status_table
from monitor.tables import print_json, use_colour


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="registry and latest state, soonest trouble first (no API calls)",
        description=(
            "Show every token's state from the last check, soonest trouble first: invalid, critical and\n"
            "warning tokens, then the rest by expiry. Makes no API call."
        ),
        epilog=examples("status", "status --json"),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="only these tokens (default: every token)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_status)


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    with ctx.sessions() as s:
        rows = status_rows(s, ctx.horizons, now, names=args.names or None)
    missing = sorted(set(args.names) - {r.name for r in rows})
    for name in missing:
        print(f"no token named {name!r} (see `tokens list`)", file=sys.stderr)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 1 if missing else 0
    if not rows:
        if not missing:
            print("no tokens registered (add one with `tokens add` or `tokens import`)")
        return 1 if missing else 0
    print(status_table(rows, now, colour=use_colour(sys.stdout)))
    return 1 if missing else 0
