"""init, migrate, keys and apps: the commands that set up the registry (tokens: token_cmds.py)."""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import select, update

from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.db import migrate
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.graph.results import GraphError, app_token
from monitor.registry import (
    RegistryError,
    add_app,
    check_token_string,
    list_apps,
    remove_app,
)
from monitor.tables import print_json, render_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create the key file (mode 0600) if missing and migrate the database")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("migrate", help="apply database migrations (upgrade to head)")
    p.set_defaults(handler=cmd_migrate)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", metavar="ACTION"
    )
    keys.required = True
    p = keys.add_parser(
        "rotate", help="re-encrypt every stored secret with the newest key of [security] key_files"
    )
    p.set_defaults(handler=cmd_keys_rotate)

    apps = sub.add_parser("apps", help="Threads apps and their inspector credentials")
    a = apps.add_subparsers(dest="apps_command", metavar="ACTION")
    a.required = True
    p = a.add_parser("add", help="register an app and its inspector credential")
    p.add_argument("name")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--inspector-token-stdin", action="store_true", help="read a tester's user token from stdin"
    )
    src.add_argument("--inspector-token-env", metavar="VAR", help="read a tester's user token from $VAR")
    src.add_argument("--app-secret-env", metavar="VAR", help="with --app-id: use the app token TH|ID|$VAR")
    p.add_argument("--app-id", metavar="ID", help="the Threads app id (not the Facebook app id)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_apps_add)
    p = a.add_parser("list", help="list apps")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_apps_list)
    p = a.add_parser("remove", help="remove an app")
    p.add_argument("name")
    p.add_argument("--cascade", action="store_true", help="also remove its tokens")
    p.set_defaults(handler=cmd_apps_remove)


# --- init, migrate, keys ----------------------------------------------------------------------------


def cmd_init(ctx: Context, args: argparse.Namespace) -> int:
    key = ctx.config.security.key_files[0]
    if create_key_file(key):
        print(f"created key file {key} (mode 0600): back it up; without it the stored tokens are lost")
    else:
        print(f"key file {key} exists, kept")
    ctx.vault  # noqa: B018 - fail early on an unreadable or malformed key
    migrate.upgrade(ctx.engine)
    print(f"database migrated to {migrate.head_revision()}")
    return 0


def cmd_migrate(ctx: Context, args: argparse.Namespace) -> int:
    before = migrate.current_revision(ctx.engine)
    migrate.upgrade(ctx.engine)
    after = migrate.head_revision()
    print(f"database at {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    return 0


def cmd_keys_rotate(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    vault = ctx.vault
    count = changed = 0
    with transaction(ctx.sessions) as s:
        for table, col in ((Token, Token.secret), (App, App.inspector_secret)):
            for row_id, secret in s.execute(select(table.id, col)).all():
                if not vault.needs_rotation(secret):
                    continue
                # Only if the ciphertext is still the one read: a refresh or a source sync that stored a new
                # string meanwhile must not be overwritten with the old one (the new one is already current).
                stmt = (
                    update(table)
                    .where(table.id == row_id, col == secret)
                    .values({col.key: vault.rotate(secret)})
                )
                if s.connection().execute(stmt).rowcount:
                    count += 1
                else:
                    changed += 1
    print(f"re-encrypted {count} secret(s) with the newest key; older keys may now be removed from key_files")
    if changed:
        print(f"{changed} secret(s) changed while rotating: run `keys rotate` again to check them")
    return 0


# --- apps -------------------------------------------------------------------------------------------


def read_env(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value is None:
        raise RegistryError(f"environment variable {var} (the {what}) is not set")
    return value


def cmd_apps_add(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    if args.app_secret_env:
        if not args.app_id:
            raise RegistryError("--app-secret-env needs --app-id")
        secret = check_token_string(read_env(args.app_secret_env, "app secret"), "app secret")
        try:
            inspector = app_token(args.app_id, secret)
        except GraphError:
            # The message names the rule, never the secret.
            raise RegistryError("--app-id and the app secret must not contain '|'") from None
        kind = "app_token"
    elif args.inspector_token_env:
        inspector, kind = read_env(args.inspector_token_env, "inspector token"), "user_token"
    else:
        inspector, kind = sys.stdin.read(), "user_token"
    with transaction(ctx.sessions) as s:
        app = add_app(
            s, ctx.vault, args.name, inspector, kind=kind, threads_app_id=args.app_id, now=ctx.now()
        )
        out = _app_json(app, 0)
    if args.json:
        print_json(out)
    else:
        print(f"added app {args.name} (inspector {kind}, fingerprint {out['inspector_fingerprint']})")
    return 0


def _app_json(app: App, tokens: int) -> dict:
    return {
        "name": app.name,
        "threads_app_id": app.threads_app_id,
        "inspector_kind": app.inspector_kind,
        "inspector_fingerprint": app.inspector_fingerprint,
        "inspector_state": app.inspector_state,
        "inspector_reason": app.inspector_reason,
        "tokens": tokens,
    }


def cmd_apps_list(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        rows = [_app_json(app, n) for app, n in list_apps(s)]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no apps registered (add one with `apps add`)")
    else:
        headers = ["name", "threads app id", "inspector", "fingerprint", "inspector state", "tokens"]
        table = [
            [
                r["name"],
                r["threads_app_id"] or "-",
                r["inspector_kind"],
                r["inspector_fingerprint"],
                r["inspector_state"] or "not used yet",
                str(r["tokens"]),
            ]
            for r in rows
        ]
        print(render_table(headers, table))
    return 0


def cmd_apps_remove(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with transaction(ctx.sessions) as s:
        removed = remove_app(s, args.name, cascade=args.cascade)
    print(f"removed app {args.name}" + (f" and {removed} token(s)" if removed else ""))
    return 0
