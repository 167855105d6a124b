"""Meta's data deletion requests, done: one `deletions` row per request (SPEC 16)

The row is what `GET /deletion/<code>` shows; it never holds the user's id (`request_key` is an HMAC of the
request keyed with the app secret, so a replay of the same request finds it and answers the same code).

Revision ID: 0011
Revises: 0009 (the platforms branch adds 0010; the merge rechains this one after it)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=True),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("done_at", sa.Double(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
        sa.UniqueConstraint("code", name=op.f("uq_deletions_code")),
        sa.UniqueConstraint("request_key", name=op.f("uq_deletions_request_key")),
    )
    op.create_index(op.f("ix_deletions_user_key"), "deletions", ["user_key"])


def downgrade() -> None:
    op.drop_table("deletions")
