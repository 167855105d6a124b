"""tokens mute/unmute and apps mute/unmute: silence a token's (or an app's) notifications for a while, like an
Alertmanager silence. The token is still checked and shown, its alerts still fire; no notifier hears of
them until the mute ends, and what still fires then is notified once."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from monitor.commands.helptext import examples
from monitor.context import Context
from monitor.db.models import App
from monitor.db.session import transaction
from monitor.registry import get_token, mute_app, mute_end, mute_token, unmute_app, unmute_token
from monitor.state import mute_in_force
from monitor.timefmt import iso_utc, relative


def add_mute_options(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--for", dest="duration", metavar="DURATION", help="how long, e.g. 7d, 12h, 1d12h")
    how.add_argument("--until", metavar="TIME", help="until when (UTC), e.g. 2027-01-31T00:00Z or 2027-01-31")
    p.add_argument("--comment", metavar="TEXT", help="why (shown with the mute everywhere)")


def register_tokens(t: argparse._SubParsersAction) -> None:
    p = t.add_parser(
        "mute",
        help="mute a token's alerts for a while",
        description=(
            "Mute a token: it is still checked and shown and its alerts still fire (`alerts list` shows\n"
            "them as muted), but no notifier hears of them until the mute ends. It ends by itself; what\n"
            "still fires then is notified once. A later mute replaces an earlier one."
        ),
        epilog=examples(
            "tokens mute acme --for 7d --comment 'user on leave'", "tokens mute acme --until 2027-01-31"
        ),
    )
    p.add_argument("name")
    add_mute_options(p)
    p.set_defaults(handler=cmd_tokens_mute)
    p = t.add_parser(
        "unmute",
        help="end a token's mute now",
        description="End a token's own mute now; what still fires is notified at the next evaluation.",
        epilog=examples("tokens unmute acme"),
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_tokens_unmute)


def _when(until: float, now: float) -> str:
    return f"{iso_utc(until)} ({relative(until, now)})"


def cmd_tokens_mute(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    until = mute_end(now, args.duration, args.until)
    with transaction(ctx.sessions) as s:
        mute_token(s, args.name, until, args.comment, now=now, via="cli")
    print(f"muted token {args.name} until {_when(until, now)}: its alerts reach no notifier until then")
    return 0


def cmd_tokens_unmute(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    with transaction(ctx.sessions) as s:
        was = unmute_token(s, args.name, now=now, via="cli")
        app_id = get_token(s, args.name).app_id
        app_until = s.scalar(select(App.muted_until).where(App.id == app_id))
    still = mute_in_force(None, app_until, now)
    if still is not None:
        print(f"token {args.name} is still muted by its app until {_when(still, now)} (apps unmute)")
    elif was:
        print(f"unmuted token {args.name}: what still fires is notified at the next evaluation")
    else:
        print(f"token {args.name} was not muted")
    return 0


def cmd_apps_mute(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    until = mute_end(now, args.duration, args.until)
    with transaction(ctx.sessions) as s:
        mute_app(s, args.name, until, args.comment, now=now)
    print(f"muted app {args.name} and all its tokens until {_when(until, now)}")
    return 0


def cmd_apps_unmute(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with transaction(ctx.sessions) as s:
        was = unmute_app(s, args.name, now=ctx.now())
    print(f"unmuted app {args.name}" if was else f"app {args.name} was not muted")
    return 0
