"""`status`: the registry and the latest state, soonest trouble first. No API calls."""

from __future__ import annotations

import argparse
import sys

from monitor.context import Context
from monitor.status import STATE_COLOURS, describe_state, status_rows, until
from monitor.tables import print_json, render_table, use_colour


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="registry and latest state, soonest trouble first (no API calls)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    with ctx.sessions() as s:
        rows = status_rows(s, ctx.horizons, now)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print("no tokens registered (add one with `tokens add` or `tokens import`)")
        return 0
    headers = ["name", "app", "state", "expires", "data access expires", "last check", "scopes", "source"]
    table = [
        [
            r.name,
            r.app,
            describe_state(r),
            until(r.expires_at, now),
            until(r.data_access_expires_at, now),
            until(r.last_check_at, now) if r.last_check_at else "never",
            " ".join(r.scopes) or "-",
            r.source or "manual",
        ]
        for r in rows
    ]
    colours = [STATE_COLOURS.get(r.state) for r in rows]
    print(render_table(headers, table, colours, colour=use_colour(sys.stdout)))
    return 0
