"""Indexes for the trouble queries, and tokens.scopes_lost

The alert evaluation and the refresh job run every few seconds and select the tokens in or near trouble;
without these indexes each run scanned every token. Scope drift becomes a column that the check writes
(`scopes_lost`), because comparing two text columns in a WHERE clause can use no index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_tokens_expires_at": ["expires_at"],
    "ix_tokens_data_access_expires_at": ["data_access_expires_at"],
    "ix_tokens_failing_since": ["failing_since"],
    "ix_tokens_is_valid": ["is_valid"],
    "ix_tokens_refresh_error": ["refresh_error"],
    "ix_tokens_scopes_lost": ["scopes_lost"],
    "ix_tokens_writeback_pending": ["writeback_pending"],
}


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes_lost", sa.Boolean(), server_default=sa.false(), nullable=False))
    tokens = sa.table(
        "tokens",
        sa.column("id", sa.Integer),
        sa.column("scopes", sa.Text),
        sa.column("expected_scopes", sa.Text),
        sa.column("is_valid", sa.Boolean),
        sa.column("scopes_lost", sa.Boolean),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(tokens.c.id, tokens.c.scopes, tokens.c.expected_scopes).where(
            tokens.c.is_valid.is_(True), tokens.c.expected_scopes.is_not(None), tokens.c.scopes.is_not(None)
        )
    ).all()
    lost = [r.id for r in rows if set(r.expected_scopes.split()) - set(r.scopes.split())]
    for i in range(0, len(lost), 500):
        conn.execute(sa.update(tokens).where(tokens.c.id.in_(lost[i : i + 500])).values(scopes_lost=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("scopes_lost")
