"""tokens add/list/remove/import/history/auto-refresh/export: fill and show the token registry."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy import select

from monitor.commands import edit_cmds, import_cmds, mute_cmds
from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.secret_args import add_secret_options, read_secret
from monitor.context import Context
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.registry import (
    Change,
    NewToken,
    add_tokens,
    get_app,
    get_token,
    history,
    parse_label_args,
    recent,
    remove_token,
    set_auto_refresh,
)
from monitor.state import expiry_word
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
    p.set_defaults(handler=cmd_tokens_history)
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


def cmd_tokens_history(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        token_id = get_token(s, args.name).id
        dated = [(sn.observed_at, 0, check_row(sn)) for sn in history(s, args.name, args.limit)]
        dated += [(c.at, 1, change_row(c)) for c in recent(s, token_id, args.limit)]
    # Newest first; a check and a change in the same instant: the change came first (it caused the check).
    rows = [row for _, _, row in sorted(dated, key=lambda d: (-d[0], d[1]))][: args.limit]
    if args.json:
        print_json(rows)
    elif not rows:
        print(f"{args.name}: never checked")
    else:
        headers = ["observed", "result", "reason", "fingerprint", "expires", "data access expires", "scopes"]
        headers.append("details")
        print(render_table(headers, [_history_cells(r) for r in rows]))
    return 0


def check_row(sn: Any) -> dict[str, Any]:
    """A snapshot: what one check saw."""
    return {
        "kind": "check",
        "observed_at": iso_utc(sn.observed_at),
        "result": sn.result,
        "reason": sn.reason,
        "fingerprint": sn.fingerprint,
        "is_valid": sn.is_valid,
        "expires_at": iso_utc(sn.expires_at) if sn.expires_at else None,
        "data_access_expires_at": iso_utc(sn.data_access_expires_at) if sn.data_access_expires_at else None,
        "issued_at": iso_utc(sn.issued_at) if sn.issued_at else None,
        "scopes": (sn.scopes or "").split(),
        "type": sn.token_type,
        "application": sn.application,
        "user_id": sn.user_id,
        "error_code": sn.error_code,
        "error_subcode": sn.error_subcode,
        "profile_id": sn.profile_id,
        "granular_scopes": _json(sn.granular_scopes),
        "metadata": _json(sn.token_metadata),
        "expiry": expiry_word(sn.expires_at, sn.expiry_source, sn.validity_source),
        "expiry_source": sn.expiry_source,
        "validity_source": sn.validity_source,
    }


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _details(r: dict[str, Any]) -> str:
    """The kind of token and where the facts came from, for the history table's last column."""
    parts = [r["type"] or ""]
    if r.get("profile_id"):
        parts.append(f"page {r['profile_id']}")
    limited = [g for g in r.get("granular_scopes") or [] if isinstance(g, dict) and g.get("target_ids")]
    parts += [f"{g['scope']} on {', '.join(map(str, g['target_ids']))}" for g in limited]
    if r.get("validity_source") == "me":
        parts.append("checked via /me")
    if r.get("expiry_source") in ("refresh", "exchange"):
        parts.append(f"expiry from {r['expiry_source']}")
    return "; ".join(p for p in parts if p) or "-"


def change_row(c: Change) -> dict[str, Any]:
    """A change: what was done to the token (string replaced or refreshed, labels, mutes)."""
    return {
        "kind": "change",
        "observed_at": iso_utc(c.at),
        "result": c.kind,
        "reason": f"via {c.via}",
        "fingerprint": c.fingerprint,
        "previous_fingerprint": c.previous_fingerprint,
        "detail": c.detail,
    }


def _history_cells(r: dict[str, Any]) -> list[str]:
    if r["kind"] == "change":
        fingerprint = f"{r['previous_fingerprint']} -> {r['fingerprint']}" if r["fingerprint"] else "-"
        return [r["observed_at"], r["result"], r["reason"], fingerprint, "", "", r["detail"] or "", ""]
    return [
        r["observed_at"],
        r["result"],
        r["reason"] or "-",
        r["fingerprint"],
        r["expires_at"] or r["expiry"] or "never",
        r["data_access_expires_at"] or "never",
        " ".join(r["scopes"]) or "-",
        _details(r),
    ]


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
