"""Every Meta token: an app's platform, the superset of debug_token fields, where each fact came from

`apps.platform` (threads | facebook | instagram; every existing app is a Threads app). `token_type` is widened
to 32 characters (USER, PAGE, APP, SYSTEM_USER... kept as text). Tokens and snapshots keep `profile_id` (the
Page of a Page token), `granular_scopes` and `token_metadata` (JSON), `expiry_source` (debug_token | never |
refresh | exchange; NULL: unknown, as every row written before this revision) and `validity_source`
(debug_token | me). `tokens.expected_targets` is the baseline of granular targets for TokenScopesLost.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FACTS = {
    "profile_id": sa.String(length=64),
    "granular_scopes": sa.Text(),
    "token_metadata": sa.Text(),
    "expiry_source": sa.String(length=16),
    "validity_source": sa.String(length=16),
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _widen(table: str, length: int, old: int) -> None:
    # SQLite does not enforce a VARCHAR length, and a batch "recreate" of `tokens` would DROP the table
    # under its snapshots (ON DELETE CASCADE): SQLite keeps its column as it is (models.TYPE_NAME says so).
    if not _sqlite():
        op.alter_column(
            table, "token_type", existing_type=sa.String(length=old), type_=sa.String(length=length)
        )


def _drop(table: str, column: str) -> None:
    # No batch recreate on SQLite (see _widen): it drops a column in place since 3.35.
    if _sqlite():
        op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    else:
        op.drop_column(table, column)


def upgrade() -> None:
    op.add_column(
        "apps", sa.Column("platform", sa.String(length=16), nullable=False, server_default="threads")
    )
    for table in ("tokens", "snapshots"):
        _widen(table, 32, 16)
        for name, kind in FACTS.items():
            op.add_column(table, sa.Column(name, kind, nullable=True))
    op.add_column("tokens", sa.Column("expected_targets", sa.Text(), nullable=True))


def downgrade() -> None:
    _drop("tokens", "expected_targets")
    for table in ("snapshots", "tokens"):
        for name in reversed(list(FACTS)):
            _drop(table, name)
        # A type longer than 16 characters does not fit the old column: cut (the old code wrote none such).
        op.execute(
            sa.text(
                f"UPDATE {table} SET token_type = SUBSTR(token_type, 1, 16) WHERE LENGTH(token_type) > 16"
            )
        )
        _widen(table, 16, 32)
    _drop("apps", "platform")
