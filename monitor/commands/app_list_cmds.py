"""apps list and apps remove: show the registered apps (inspector state, tokens, mute), remove one."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.commands.helptext import JSON_HELP, examples
from monitor.context import Context
from monitor.db.models import App
from monitor.db.session import transaction
from monitor.registry import list_apps, remove_app
from monitor.tables import print_json, render_table
from monitor.timefmt import iso_utc


def register_list_remove(a: argparse._SubParsersAction) -> None:
    p = a.add_parser(
        "list",
        help="list apps",
        description="List the registered apps, their inspector credential's state and their token count.",
        epilog=examples("apps list", "apps list --json"),
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_apps_list)
    p = a.add_parser(
        "remove",
        help="remove an app",
        description=(
            "Remove an app. Refused while it has tokens, unless --cascade removes them too (their alerts\n"
            "end as 'app removed')."
        ),
        epilog=examples("apps remove growth", "apps remove growth --cascade"),
    )
    p.add_argument("name")
    p.add_argument("--cascade", action="store_true", help="also remove its tokens")
    p.set_defaults(handler=cmd_apps_remove)


def app_json(app: App, tokens: int, now: float | None = None) -> dict[str, Any]:
    """An app as `apps list --json` shows it; `muted_until` and `mute_comment` while a mute is in force."""
    muted = app.muted_until is not None and now is not None and app.muted_until > now
    out = {
        "name": app.name,
        "threads_app_id": app.threads_app_id,
        "inspector_kind": app.inspector_kind,
        "inspector_fingerprint": app.inspector_fingerprint,
        "inspector_state": app.inspector_state,
        "inspector_reason": app.inspector_reason,
        "callback_secret": app.callback_secret is not None or app.inspector_kind == "app_token",
        "tokens": tokens,
    }
    if muted and app.muted_until is not None:
        out |= {"muted_until": iso_utc(app.muted_until), "mute_comment": app.mute_comment}
    return out


def cmd_apps_list(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    with ctx.sessions() as s:
        rows = [app_json(app, n, now) | {"platform": app.platform or "threads"} for app, n in list_apps(s)]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no apps registered (add one with `apps add`)")
    else:
        headers = ["name", "threads app id", "inspector", "fingerprint", "inspector state", "tokens"]
        headers += ["platform", "callbacks"]
        muted = any(r.get("muted_until") for r in rows)  # the column shows only while a mute is in force
        table = [
            [
                r["name"],
                r["threads_app_id"] or "-",
                r["inspector_kind"],
                r["inspector_fingerprint"],
                r["inspector_state"] or "not used yet",
                str(r["tokens"]),
                r["platform"],
                "verifiable" if r["callback_secret"] else "refused: no app secret",
            ]
            + ([f"until {r['muted_until']}" if r.get("muted_until") else "-"] if muted else [])
            for r in rows
        ]
        headers += ["muted"] if muted else []
        print(render_table(headers, table))
    return 0


def cmd_apps_remove(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with transaction(ctx.sessions) as s:
        removed = remove_app(s, args.name, now=ctx.now(), cascade=args.cascade)
    print(f"removed app {args.name}" + (f" and {removed} token(s)" if removed else ""))
    return 0
