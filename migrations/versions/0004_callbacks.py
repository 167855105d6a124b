"""Callbacks (SPEC 11): app secrets, stored callbacks, and checks asked for at once

`apps.callback_secret` holds the (encrypted) app secret that signs Meta's deauthorize callbacks for an app
whose inspector is a tester token. `callbacks` keeps every verified callback and recheck request, written
before it is acknowledged. A token asked to be checked at once has `recheck_at` set (indexed: the claim
takes those first); `callback_check_at` is when such a check last started, which limits it to one per
token per 10 s and is shown by `status` and the token page. `ix_tokens_app_user` finds an app's tokens of
one user.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TOKEN_COLUMNS = {
    "recheck_at": sa.Double(),
    "recheck_reason": sa.String(length=16),
    "callback_check_at": sa.Double(),
    "callback_check_reason": sa.String(length=16),
}
TOKEN_INDEXES = {"ix_tokens_recheck_at": ["recheck_at"], "ix_tokens_app_user": ["app_id", "user_id"]}


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_secret", sa.Text(), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name, kind in TOKEN_COLUMNS.items():
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        for name, columns in TOKEN_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.Double(), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_callbacks_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callbacks_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("callbacks")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name in TOKEN_INDEXES:
            batch_op.drop_index(name)
        for name in TOKEN_COLUMNS:
            batch_op.drop_column(name)
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("callback_secret")
