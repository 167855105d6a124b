"""`status`: the registry and the latest state, soonest trouble first, filtered by state, app or label. No API
calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection

from monitor.commands.helptext import JSON_HELP, examples
from monitor.context import Context
from monitor.graph.platforms import PLATFORMS
from monitor.registry import RegistryError
from monitor.state import STATES
from monitor.status import StatusRow, status_rows, status_table
from monitor.tables import print_json, use_colour


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="registry and latest state, soonest trouble first (no API calls)",
        description=(
            "Show every token's state from the last check, soonest trouble first: invalid, critical and\n"
            "warning tokens, then the rest by expiry. Muted tokens say so. Makes no API call."
        ),
        epilog=examples(
            "status",
            "status --state invalid --state critical",
            "status --app growth --label team=x",
            "status --platform facebook --json",
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="only these tokens (default: every token)")
    p.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[s.value for s in STATES],
        help="only tokens in this state (repeatable: any of them)",
    )
    p.add_argument("--app", help="only the tokens of this app")
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        choices=sorted(PLATFORMS),
        help="only the tokens of apps of this platform (repeatable: any of them)",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only tokens with this label (repeatable; a key given twice takes either value)",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_status)


def _wanted(args: argparse.Namespace) -> tuple[set[str], dict[str, set[str]]]:
    """The states and labels asked for: a key given twice takes either value (like a repeated --state)."""
    labels: dict[str, set[str]] = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RegistryError(f"--label {item!r}: expected KEY=VALUE")
        labels.setdefault(key.strip(), set()).add(value.strip())
    return set(args.state), labels


def keep(
    row: StatusRow,
    states: set[str],
    app: str | None,
    labels: dict[str, set[str]],
    platforms: Collection[str] = (),
) -> bool:
    """Whether `row` passes every filter given (none given: every row does)."""
    have = dict(row.labels)
    return (
        (not states or row.state in states)
        and (app is None or row.app == app)
        and (not platforms or row.platform in platforms)
        and all(have.get(k) in v for k, v in labels.items())
    )


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    states, labels = _wanted(args)
    now = ctx.now()
    with ctx.sessions() as s:
        rows = status_rows(s, ctx.horizons, now, names=args.names or None)
    missing = sorted(set(args.names) - {r.name for r in rows})
    for name in missing:
        print(f"no token named {name!r} (see `tokens list`)", file=sys.stderr)
    filtered = states or args.app or labels or args.platform
    rows = [r for r in rows if keep(r, states, args.app, labels, args.platform)]
    if args.json:
        print_json([r.to_json() for r in rows])
        return 1 if missing else 0
    if not rows:
        if filtered:
            print("no token matches")
        elif not missing:
            print("no tokens registered (add one with `tokens add` or `tokens import`)")
        return 1 if missing else 0
    print(status_table(rows, now, colour=use_colour(sys.stdout)))
    return 1 if missing else 0
