"""init, migrate, keys and apps: the commands that set up the registry (tokens: token_cmds.py)."""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import select, update

from monitor.commands.helptext import JSON_HELP, examples
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.db import migrate
from monitor.db.models import App, Token
from monitor.db.session import transaction
from monitor.graph.results import GraphError, app_token
from monitor.registry import (
    RegistryError,
    add_app,
    check_app_secret,
    list_apps,
    remove_app,
    set_app_secret,
)
from monitor.tables import print_json, render_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="create the key file (mode 0600) if missing and migrate the database",
        description=(
            "Prepare a new installation: create the key file that encrypts stored tokens (if missing; back\n"
            "it up) and create or upgrade the database. Safe to run again."
        ),
        epilog=examples("init", "--config /etc/threads-token-monitor/config.toml init"),
    )
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser(
        "migrate",
        help="apply database migrations (upgrade to head)",
        description="Upgrade the database to this version's schema (run after installing a new version).",
        epilog=examples("migrate"),
    )
    p.set_defaults(handler=cmd_migrate)

    keys = sub.add_parser(
        "keys",
        help="encryption keys",
        description="The keys that encrypt stored tokens at rest ([security] key_file / key_files).",
        epilog=examples("keys rotate"),
    ).add_subparsers(dest="keys_command", metavar="ACTION")
    keys.required = True
    p = keys.add_parser(
        "rotate",
        help="re-encrypt every stored secret with the newest key of [security] key_files",
        description=(
            "Re-encrypt every stored token and inspector credential with the newest key (the first of\n"
            "[security] key_files). Afterwards the older keys can be removed from key_files."
        ),
        epilog=examples("keys rotate"),
    )
    p.set_defaults(handler=cmd_keys_rotate)

    apps = sub.add_parser(
        "apps",
        help="Threads apps and their inspector credentials",
        description=(
            "The Threads apps your tokens belong to. Each app needs an inspector credential (an app token\n"
            "or a tester's user token) that the monitor uses to inspect the app's tokens."
        ),
        epilog=examples("apps add growth --app-id 123 --app-secret-env APP_SECRET", "apps list"),
    )
    a = apps.add_subparsers(dest="apps_command", metavar="ACTION")
    a.required = True
    p = a.add_parser(
        "add",
        help="register an app and its inspector credential",
        description=(
            "Register a Threads app. Give --app-id and --app-secret-env to inspect with the app token, or a\n"
            "tester's user token with --inspector-token-stdin or --inspector-token-env."
        ),
        epilog=examples(
            "apps add growth --app-id 123 --app-secret-env APP_SECRET",
            "apps add growth --inspector-token-env TESTER_TOKEN",
        ),
    )
    p.add_argument("name")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--inspector-token-stdin", action="store_true", help="read a tester's user token from stdin"
    )
    src.add_argument("--inspector-token-env", metavar="VAR", help="read a tester's user token from $VAR")
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--app-secret-env",
        metavar="VAR",
        help="the app secret from $VAR: with --app-id alone, the inspector is the app token TH|ID|SECRET; "
        "with a tester token, it verifies the app's deauthorize callbacks",
    )
    secret.add_argument("--app-secret-file", metavar="PATH", help="the app secret from a file")
    p.add_argument("--app-id", metavar="ID", help="the Threads app id (not the Facebook app id)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_apps_add)
    p = a.add_parser(
        "set-secret",
        help="store the app secret that verifies an app's deauthorize callbacks",
        description=(
            "Store an app's secret (encrypted) so that the [callbacks] listener can verify the signed\n"
            "deauthorize callbacks Meta sends for that app."
        ),
        epilog=examples("apps set-secret growth --app-secret-env APP_SECRET"),
    )
    p.add_argument("name")
    secret = p.add_mutually_exclusive_group(required=True)
    secret.add_argument("--app-secret-env", metavar="VAR", help="read the app secret from $VAR")
    secret.add_argument("--app-secret-file", metavar="PATH", help="read the app secret from a file")
    secret.add_argument("--app-secret-stdin", action="store_true", help="read the app secret from stdin")
    p.set_defaults(handler=cmd_apps_set_secret)
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
        description="Remove an app. Refused while it has tokens, unless --cascade removes them too.",
        epilog=examples("apps remove growth", "apps remove growth --cascade"),
    )
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
        for table, col in ((Token, Token.secret), (App, App.inspector_secret), (App, App.callback_secret)):
            for row_id, secret in s.execute(select(table.id, col).where(col.is_not(None))).all():
                if secret is None or not vault.needs_rotation(secret):
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


def read_app_secret(args: argparse.Namespace) -> str | None:
    """The app secret from --app-secret-env, --app-secret-file or --app-secret-stdin (None: none given)."""
    if args.app_secret_env:
        value = read_env(args.app_secret_env, "app secret")
    elif args.app_secret_file:
        try:
            with open(args.app_secret_file, encoding="utf-8") as fh:
                value = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise RegistryError(f"cannot read {args.app_secret_file}: {reason}") from None
    elif getattr(args, "app_secret_stdin", False):
        value = sys.stdin.read()
    else:
        return None
    return check_app_secret(value)


def _inspector(args: argparse.Namespace, secret: str | None) -> tuple[str, str]:
    """(inspector credential, kind): a tester's user token, else the app token TH|ID|SECRET."""
    if args.inspector_token_env:
        return read_env(args.inspector_token_env, "inspector token"), "user_token"
    if args.inspector_token_stdin:
        return sys.stdin.read(), "user_token"
    if secret is not None and not args.app_id:
        raise RegistryError(
            "an app secret without a tester's token needs --app-id (the inspector TH|ID|SECRET)"
        )
    if secret is None:
        raise RegistryError(
            "give a tester's token (--inspector-token-stdin or --inspector-token-env), "
            "or --app-id with --app-secret-env/--app-secret-file"
        )
    try:
        return app_token(args.app_id, secret), "app_token"
    except GraphError:
        # The message names the rule, never the secret.
        raise RegistryError("--app-id and the app secret must not contain '|'") from None


def cmd_apps_add(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    secret = read_app_secret(args)
    inspector, kind = _inspector(args, secret)
    with transaction(ctx.sessions) as s:
        app = add_app(
            s, ctx.vault, args.name, inspector, kind=kind, threads_app_id=args.app_id, now=ctx.now()
        )
        if kind == "user_token" and secret is not None:
            set_app_secret(s, ctx.vault, args.name, secret)
        out = _app_json(app, 0)
    if args.json:
        print_json(out)
    else:
        print(f"added app {args.name} (inspector {kind}, fingerprint {out['inspector_fingerprint']})")
    return 0


def cmd_apps_set_secret(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    secret = read_app_secret(args)
    assert secret is not None  # argparse requires one of the three
    with transaction(ctx.sessions) as s:
        set_app_secret(s, ctx.vault, args.name, secret)
    print(f"stored the app secret of {args.name}: its deauthorize callbacks can be verified")
    return 0


def _app_json(app: App, tokens: int) -> dict:
    return {
        "name": app.name,
        "threads_app_id": app.threads_app_id,
        "inspector_kind": app.inspector_kind,
        "inspector_fingerprint": app.inspector_fingerprint,
        "inspector_state": app.inspector_state,
        "inspector_reason": app.inspector_reason,
        "callback_secret": app.callback_secret is not None or app.inspector_kind == "app_token",
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
        headers = [
            "name",
            "threads app id",
            "inspector",
            "fingerprint",
            "inspector state",
            "tokens",
            "callbacks",
        ]
        table = [
            [
                r["name"],
                r["threads_app_id"] or "-",
                r["inspector_kind"],
                r["inspector_fingerprint"],
                r["inspector_state"] or "not used yet",
                str(r["tokens"]),
                "verifiable" if r["callback_secret"] else "refused: no app secret",
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
