"""tokens add/list/remove/import/auto-refresh/export (history: history_cmds.py): fill and show tokens."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select

from monitor.commands import edit_cmds, history_cmds, import_cmds, mute_cmds
from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.secret_args import add_secret_options, read_secret
from monitor.context import Context
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.registry import (
    NewToken,
    add_tokens,
    get_app,
    get_token,
    parse_label_args,
    remove_token,
    set_auto_refresh,
)
from monitor.tables import print_json, render_table
from monitor.timefmt import iso_utc


def register(sub: argparse._SubParsersAction) -> None:
    tokens = sub.add_parser(
        "tokens",
        help="add, list, import and remove the tokens the monitor watches",
        description="The token registry: the tokens the monitor watches, their labels and their history.",
        epilog=examples("tokens add acme --app growth --token-env ACME_TOKEN", "tokens import tokens.csv"),
    )
    t = tokens.add_subparsers(dest="tokens_command", metavar="ACTION")
    t.required = True
    p = t.add_parser(
        "add",
        help="register a token",
        description=(
            "Register one token under an app. The token is read from standard input, an environment\n"
            "variable or a file, never from the command line, and stored encrypted; it is checked at once."
        ),
        epilog=examples(
            "tokens add acme --app growth --token-env ACME_TOKEN --label team=growth",
            "tokens add acme --app growth --token-stdin < acme.token",
        ),
    )
    p.add_argument("name", help="a name of your choice, used in alerts, metrics and other commands")
    p.add_argument("--app", required=True, help="the app the token belongs to (see `apps list`)")
    add_secret_options(p, "token", "the token")
    p.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="a label for alerts (repeatable)"
    )
    p.add_argument("--auto-refresh", action="store_true", help="refresh this long-lived token automatically")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_tokens_add)
    p = t.add_parser(
        "list",
        help="list tokens",
        description="List the registered tokens: app, fingerprint, labels, last check (never the token).",
        epilog=examples("tokens list", "tokens list --app growth --json"),
    )
    p.add_argument("--app", help="only the tokens of this app")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_tokens_list)
    p = t.add_parser(
        "remove",
        help="remove a token and its history",
        description=(
            "Remove a token added by hand, with its history. A token read from a [[sources]] table is\n"
            "removed from that source instead: the next sync retires it."
        ),
        epilog=examples("tokens remove acme"),
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_tokens_remove)
    import_cmds.register_tokens(t)
    edit_cmds.register_tokens(t)
    mute_cmds.register_tokens(t)
    p = t.add_parser(
        "history",
        help="what changed, newest first",
        description=(
            "What each check of a token saw, newest first (result, expiry, data access, scopes), and what\n"
            "was done to it: string replaced or refreshed (old and new fingerprint), labels, mutes."
        ),
        epilog=examples("tokens history acme", "tokens history acme --limit 10 --json"),
    )
    p.add_argument("name")
    p.add_argument("--limit", type=_positive_int, default=50, metavar="N", help="show at most N rows (50)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=history_cmds.cmd_tokens_history)
    p = t.add_parser(
        "auto-refresh",
        help="switch automatic refresh of one token on or off",
        description="Switch automatic refresh of one long-lived token on or off (see [refresh] before).",
        epilog=examples("tokens auto-refresh acme on"),
    )
    p.add_argument("name")
    p.add_argument("switch", choices=["on", "off"])
    p.set_defaults(handler=cmd_tokens_auto_refresh)
    p = t.add_parser(
        "export",
        help="print the current token string (for scripts)",
        description="Print the current token string (a refresh changes it) for a program that needs it.",
        epilog=examples("tokens export acme | deploy-secret threads-acme"),
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_tokens_export)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def cmd_tokens_add(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    labels = parse_label_args(args.label)
    secret = read_secret(args, "token", "token")
    assert secret is not None  # argparse requires one of the three forms
    new = NewToken(args.name, args.app, secret, labels, args.auto_refresh)
    with transaction(ctx.sessions) as s:
        add_tokens(s, ctx.vault, [new], now=ctx.now())
        token = get_token(s, args.name)
        out = token_json(token, args.app)
    if args.json:
        print_json(out)
    else:
        print(
            f"added token {args.name} (app {args.app}, fingerprint {token.fingerprint}); "
            f"first check is due now"
        )
    return 0


def token_json(token: Token, app: str) -> dict:
    return {
        "name": token.name,
        "app": app,
        "fingerprint": token.fingerprint,
        "labels": token.labels or {},
        "auto_refresh": bool(token.auto_refresh),
        "source": token.source,
        "created_at": iso_utc(token.created_at),
        "last_check_at": iso_utc(token.last_check_at) if token.last_check_at else None,
        "last_result": token.last_result,
    }


def cmd_tokens_list(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        stmt = select(Token, App.name).join(App, Token.app_id == App.id).order_by(Token.name)
        if args.app:
            get_app(s, args.app)  # an unknown app is a mistake (exit 2), not an empty registry
            stmt = stmt.where(App.name == args.app)
        rows = [token_json(t, app) for t, app in s.execute(stmt)]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no tokens registered (add one with `tokens add` or `tokens import`)")
    else:
        headers = ["name", "app", "fingerprint", "labels", "auto-refresh", "source", "last check"]
        table = [
            [
                r["name"],
                r["app"],
                r["fingerprint"],
                ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-",
                "on" if r["auto_refresh"] else "off",
                r["source"] or "manual",
                r["last_check_at"] or "never checked",
            ]
            for r in rows
        ]
        print(render_table(headers, table))
    return 0


def cmd_tokens_remove(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with transaction(ctx.sessions) as s:
        remove_token(s, args.name, now=ctx.now(), sources={src.name for src in ctx.config.sources})
    print(f"removed token {args.name}")
    return 0


def cmd_tokens_auto_refresh(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with transaction(ctx.sessions) as s:
        set_auto_refresh(s, args.name, args.switch == "on", now=ctx.now())
    print(f"automatic refresh of {args.name} is {args.switch}")
    return 0


def cmd_tokens_export(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.tokenstore import current_token

    value = current_token(args.name, context=ctx)
    if sys.stdout.isatty():
        print("warning: this prints a secret; pipe it into the program that needs it", file=sys.stderr)
    sys.stdout.write(value + "\n")
    return 0
