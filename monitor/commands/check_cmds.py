"""`check [NAME...] [--all] [--app APP] [--user-id ID]`: inspect now, print the results, store snapshots.

Exit 1 when any checked token is invalid or inside a warning threshold (for cron jobs and CI gates), or when
nothing it was asked to check could be checked. Answers are stored as they arrive; SIGINT or SIGTERM stores
what was answered, releases the rest at once, says how far it got and exits 130 or 143.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.progress import on_terminal, progress_bar
from monitor.context import Context
from monitor.db.chunks import in_chunks
from monitor.db.leases import describe_owner, owner_of
from monitor.db.models import App, Token
from monitor.registry import RegistryError
from monitor.state import State
from monitor.status import status_rows, status_table
from monitor.tables import print_json, use_colour
from monitor.timefmt import iso_utc, relative

if TYPE_CHECKING:
    from monitor.check.sweep import Sweeper

TROUBLE = {State.INVALID.value, State.CRITICAL.value, State.WARNING.value}
EXIT_SIGNAL = 128  # the shell's convention: 130 after SIGINT, 143 after SIGTERM


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="inspect tokens now, print the results and store snapshots",
        description=(
            "Inspect tokens now through the Threads API, print what was found and store it as the daemon\n"
            "does. Exits 1 when a token is invalid or inside a warning threshold (for cron jobs and CI),\n"
            "or when nothing could be checked. Answers are stored as they arrive: Ctrl-C (or SIGTERM) keeps\n"
            "them, frees the rest at once and exits 130 (143). On a terminal a progress bar shows the rate."
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
    if args.names and (args.all or args.app or args.user_id):  # which did they mean? both would be a guess
        raise RegistryError("give token names, or --all, --app or --user-id, not both")
    if args.names:
        stmt = stmt.where(Token.name.in_(args.names))
    elif args.app or args.user_id:
        stmt = stmt.where(App.name == args.app) if args.app else stmt
        stmt = stmt.where(Token.user_id == args.user_id) if args.user_id else stmt
    elif not args.all:
        raise RegistryError("name the tokens to check, or use --all, --app or --user-id")
    with ctx.sessions() as s:
        if args.app and s.scalar(select(App.id).where(App.name == args.app)) is None:
            raise RegistryError(f"no app named {args.app!r} (see `apps list`)")
        found = {row.id: row.name for row in s.execute(stmt)}
    if args.user_id and not found:
        raise RegistryError(f"no token was last seen with user id {args.user_id!r}")
    missing = sorted(set(args.names) - set(found.values()))
    if missing:
        raise RegistryError(f"no token named {missing[0]!r} (see `tokens list`)")
    return found


@contextmanager
def interruptible() -> Iterator[tuple[threading.Event, list[int]]]:
    """While inside: SIGINT and SIGTERM set the event (and are noted) instead of killing the command, so it
    can store what it has and free what it holds. Outside the main thread nothing is installed."""
    stop, got = threading.Event(), list[int]()

    def note(signum: int, _frame: Any) -> None:
        got.append(signum)
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, note)
    except ValueError:  # not the main thread
        pass
    try:
        yield stop, got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def make_sweeper(ctx: Context) -> Sweeper:
    """A sweeper of this process (its own lease owner), for checks asked for on the command line."""
    from monitor.check.sweep import Sweeper  # the checking machinery: loaded by `check` only
    from monitor.daemon.lifecycle import cadence_of
    from monitor.graph.client import GraphClient

    cfg = ctx.config
    client = GraphClient(
        base_url=cfg.threads.base_url,
        api_version=cfg.threads.api_version,
        hosts=cfg.platforms.hosts(),
        timeout=cfg.threads.timeout,
        retries=cfg.threads.retries,
    )
    return Sweeper(
        sessions=ctx.sessions,
        vault=ctx.vault,
        client=client,
        cadence=cadence_of(cfg),
        owner=owner_of("check"),
        concurrency=cfg.threads.concurrency,
        lease=cfg.schedule.lease,
        retries=cfg.threads.retries,
        clock=ctx.clock,
        horizons=ctx.horizons,
    )


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    ids = _select_ids(ctx, args)
    sweeper = make_sweeper(ctx)
    try:
        with (
            interruptible() as (stop, signals),
            progress_bar(len(ids), "token", "checking", enabled=on_terminal(args.json)) as tick,
        ):
            run = sweeper.check_ids(ids, tick, stop)
    finally:
        sweeper.close()
        sweeper.client.close()
    checked = {o.claimed.name for o in run.outcomes}
    claimed = {c.name for c in run.claimed}
    now = ctx.now()
    with ctx.sessions() as s:
        stored = {r.name: r for r in status_rows(s, ctx.horizons, now, names=ids.values())}
        held = holders(s, [i for i, n in ids.items() if n not in claimed])
    rows = [stored[n] for n in stored if n in checked]
    # A token a daemon was checking right now still counts, by what is stored about it: a cron job must not
    # pass because the daemon happened to hold the invalid token at that moment.
    busy = [stored[n] for n in held if n in stored]
    report(args, rows, held, now)
    if signals:
        left = len(ids) - len(checked)
        print(
            f"interrupted: {len(checked)} of {len(ids)} checked and stored; {left} not checked",
            file=sys.stderr,
        )
        return EXIT_SIGNAL + signals[0]
    trouble = any(r.state in TROUBLE for r in [*rows, *busy])
    failed = any(r.last_result not in ("valid", "invalid") for r in rows)
    return 1 if trouble or failed or (ids and not checked) else 0


def holders(session: Any, ids: list[int]) -> dict[str, tuple[str | None, float | None]]:
    """name -> (lease owner, lease end) of tokens another process held when this one asked for them."""
    out: dict[str, tuple[str | None, float | None]] = {}
    for chunk in in_chunks(ids):
        stmt = select(Token.name, Token.lease_owner, Token.lease_expires_at).where(Token.id.in_(chunk))
        out.update((r.name, (r.lease_owner, r.lease_expires_at)) for r in session.execute(stmt))
    return out


def report(
    args: argparse.Namespace, rows: list, held: dict[str, tuple[str | None, float | None]], now: float
) -> None:
    skipped = [
        {
            "name": name,
            "held_by": owner,
            "holder": describe_owner(owner) if owner else None,
            "until": iso_utc(until) if until else None,
        }
        for name, (owner, until) in sorted(held.items())
    ]
    if args.json:
        print_json(
            {
                "checked": [r.to_json() for r in rows],
                "skipped_busy": [s["name"] for s in skipped],
                "skipped": skipped,
            }
        )
        return
    columns = ("name", "app", "state", "expires", "data_access", "detail")
    print(status_table(rows, now, colour=use_colour(sys.stdout), columns=columns))
    for name, (owner, until) in sorted(held.items()):
        who = describe_owner(owner) if owner else "another process"
        when = f" until {iso_utc(until)} ({relative(until, now)})" if until else ""
        print(f"{name}: skipped, held by {who}{when}", file=sys.stderr)
