"""tokens set-token and tokens label: change a token in place, keeping its history and alert ladder (no
`tokens remove` + `add`, which deletes both)."""

from __future__ import annotations

import argparse
import sys

from monitor.commands.check_cmds import TROUBLE, make_sweeper
from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.secret_args import add_secret_options, read_secret
from monitor.context import Context
from monitor.db import leases
from monitor.db.models import TOKENS
from monitor.db.session import transaction
from monitor.registry import check_label_keys, get_token, parse_label_args, replace_string, set_labels
from monitor.status import describe_state, status_rows, until
from monitor.tables import print_json


def register_tokens(t: argparse._SubParsersAction) -> None:
    p = t.add_parser(
        "set-token",
        help="store a new string under a token's name (checked at once)",
        description=(
            "Store a new string for a token (a user re-authorized, a system token was rotated). Its history\n"
            "and alert ladder are kept; `tokens history` shows the replacement. The new string is checked\n"
            "at once, and alerts raised by the old one end with reason 'replaced' once the new one is fine.\n"
            "Exits 1 when the new string is invalid or inside a warning threshold."
        ),
        epilog=examples(
            "tokens set-token acme --token-env NEW_TOKEN", "tokens set-token acme --token-stdin < t"
        ),
    )
    p.add_argument("name")
    add_secret_options(p, "token", "the new token")
    p.add_argument("--no-check", action="store_true", help="store only: the daemon checks it at once")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_tokens_set_token)
    p = t.add_parser(
        "label",
        help="set or remove labels of a token",
        description="Set labels (KEY=VALUE) and remove others (--remove KEY) of one token; the rest stay.",
        epilog=examples("tokens label acme team=growth env=prod", "tokens label acme --remove env"),
    )
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE", help="labels to set")
    p.add_argument(
        "--remove", action="append", default=[], metavar="KEY", help="a label to remove (repeatable)"
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_tokens_label)


def configured_sources(ctx: Context) -> set[str]:
    return {src.name for src in ctx.config.sources}


def cmd_tokens_set_token(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    token = read_secret(args, "token", "token")
    assert token is not None  # argparse requires one of the three forms
    now, sweeper = ctx.now(), make_sweeper(ctx)
    sources = configured_sources(ctx)
    try:
        with transaction(ctx.sessions) as s:
            old, new = replace_string(s, ctx.vault, args.name, token, now=now, via="cli", sources=sources)
            token_id = get_token(s, args.name).id
            if not args.no_check:  # leased with the new string, so that no daemon's sweep takes it first
                leases.take(s, TOKENS, [token_id], sweeper.owner_for("check"), now, sweeper.lease)
        checked = not args.no_check and bool(sweeper.check_ids([token_id]).outcomes)
    finally:
        sweeper.close()
        sweeper.client.close()
    with ctx.sessions() as s:
        (row,) = status_rows(s, ctx.horizons, ctx.now(), names=[args.name])
    if args.json:
        print_json({"name": args.name, "fingerprint": new, "previous_fingerprint": old, "checked": checked,
                    "state": row.to_json()})  # fmt: skip
    else:
        print(f"replaced the string of {args.name} (fingerprint {old} -> {new}); history and alerts kept")
        if checked:
            print(f"checked: {describe_state(row)}, expires {until(row.expires_at, ctx.now())}")
        elif args.no_check:
            print("not checked: the daemon checks it at once (its next check is due now)")
        else:
            print("not checked now: another process holds it; it checks the new string next", file=sys.stderr)
    return 1 if checked and (row.state in TROUBLE or row.last_result not in ("valid", "invalid")) else 0


def cmd_tokens_label(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    labels = parse_label_args(args.labels, "label")
    remove = check_label_keys(args.remove)
    with transaction(ctx.sessions) as s:
        after = set_labels(
            s, args.name, labels, remove, now=ctx.now(), via="cli", sources=configured_sources(ctx)
        )
    if args.json:
        print_json({"name": args.name, "labels": after})
    else:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(after.items())) or "none"
        print(f"labels of {args.name}: {shown}")
    return 0
