"""`check [NAME...] [--all] [--app APP] [--user-id ID]`: inspect now, print the results, store snapshots.

Exit 1 when any checked token is invalid or inside a warning threshold (for cron jobs and CI gates).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from sqlalchemy import select

from monitor.check.sweep import Sweeper
from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.progress import on_terminal, progress_bar
from monitor.context import Context
from monitor.daemon.lifecycle import cadence_of
from monitor.db.models import App, Token
from monitor.graph.client import GraphClient
from monitor.registry import RegistryError
from monitor.state import State
from monitor.status import status_rows, status_table
from monitor.tables import print_json, use_colour

TROUBLE = {State.INVALID.value, State.CRITICAL.value, State.WARNING.value}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="inspect tokens now, print the results and store snapshots",
        description=(
            "Inspect tokens now through the Threads API, print what was found and store it as the daemon\n"
            "does. Exits 1 when a token is invalid or inside a warning threshold (for cron jobs and CI).\n"
            "On a terminal a progress bar shows the rate and the time left."
        ),
        epilog=examples("check acme", "check --app growth", "check --all --json"),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="the tokens to check")
    p.add_argument("--all", action="store_true", help="check every registered token")
    p.add_argument("--app", help="check every token of one app")
    p.add_argument(
        "--user-id",
        metavar="ID",
        help="check every token last seen with this Threads user id (with --app: of that app)",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_check)


def _select_ids(ctx: Context, args: argparse.Namespace) -> dict[int, str]:
    stmt = select(Token.id, Token.name).join(App, Token.app_id == App.id)
    if args.names:
        stmt = stmt.where(Token.name.in_(args.names))
    elif args.app or args.user_id:
        stmt = stmt.where(App.name == args.app) if args.app else stmt
        stmt = stmt.where(Token.user_id == args.user_id) if args.user_id else stmt
    elif not args.all:
        raise RegistryError("name the tokens to check, or use --all, --app or --user-id")
    with ctx.sessions() as s:
        found = {row.id: row.name for row in s.execute(stmt)}
    if args.user_id and not found:
        raise RegistryError(f"no token was last seen with user id {args.user_id!r}")
    missing = sorted(set(args.names) - set(found.values()))
    if missing:
        raise RegistryError(f"no token named {missing[0]!r} (see `tokens list`)")
    return found


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    ids = _select_ids(ctx, args)
    cfg = ctx.config
    client = GraphClient(
        base_url=cfg.threads.base_url,
        api_version=cfg.threads.api_version,
        timeout=cfg.threads.timeout,
        retries=cfg.threads.retries,
    )
    sweeper = Sweeper(
        sessions=ctx.sessions,
        vault=ctx.vault,
        client=client,
        cadence=cadence_of(cfg),
        owner=f"check:{socket.gethostname()[:40]}:{os.getpid()}",
        concurrency=cfg.threads.concurrency,
        lease=cfg.schedule.lease,
        retries=cfg.threads.retries,
        clock=ctx.clock,
    )
    try:
        with progress_bar(len(ids), "token", "checking", enabled=on_terminal(args.json)) as tick:
            outcomes = sweeper.check_now(ids, tick)
    finally:
        sweeper.close()
        client.close()
    checked = {o.claimed.name for o in outcomes}
    skipped = sorted(set(ids.values()) - checked)
    now = ctx.now()
    with ctx.sessions() as s:
        stored = {r.name: r for r in status_rows(s, ctx.horizons, now, names=ids.values())}
    rows = [stored[n] for n in stored if n in checked]
    # A token a daemon was checking right now still counts, by what is stored about it: a cron job must not
    # pass because the daemon happened to hold the invalid token at that moment.
    busy = [stored[n] for n in skipped if n in stored]
    if args.json:
        print_json({"checked": [r.to_json() for r in rows], "skipped_busy": skipped})
    else:
        columns = ("name", "app", "state", "expires", "data_access", "detail")
        print(status_table(rows, now, colour=use_colour(sys.stdout), columns=columns))
        for name in skipped:
            print(f"{name}: skipped, a daemon is checking it right now", file=sys.stderr)
    trouble = any(r.state in TROUBLE for r in [*rows, *busy])
    failed = any(r.last_result not in ("valid", "invalid") for r in rows)
    return 1 if trouble or failed else 0
