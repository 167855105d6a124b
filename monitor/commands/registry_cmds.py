"""init, migrate and keys (generate, rotate): setting up the registry (apps, tokens: their own modules)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select, update

from monitor.commands.helptext import examples
from monitor.context import Context
from monitor.crypto import create_key_file, new_key
from monitor.db import migrate
from monitor.db.models import App, Token
from monitor.db.session import transaction


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
        help="encryption keys: generate a new one, rotate to it",
        description="The keys that encrypt stored tokens at rest ([security] key_file / key_files).",
        epilog=examples("keys generate > secret-2.key", "keys rotate"),
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
    p = keys.add_parser(
        "generate",
        help="print a new key (for key_files rotation or a systemd credential)",
        description=(
            "Print a new random key in the key file format (Fernet: 32 bytes, url-safe base64) on standard\n"
            "output, and nothing else; it is never logged. Write it to a file only you can read (`umask\n"
            "077` first), put that file first in [security] key_files and run `keys rotate`; or hand it to\n"
            "the service as a systemd credential (LoadCredential=secret.key:/etc/threads-token-monitor/\n"
            "secret.key, or `systemd-creds encrypt` and LoadCredentialEncrypted=)."
        ),
        epilog=examples(
            "keys generate > /etc/threads-token-monitor/secret-2.key",
            "keys generate | systemd-creds encrypt --name=secret.key - secret.key.cred",
        ),
    )
    p.set_defaults(handler=cmd_keys_generate, no_config=True)


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


def cmd_keys_generate(ctx: None, args: argparse.Namespace) -> int:
    sys.stdout.write(new_key().decode("ascii") + "\n")
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
