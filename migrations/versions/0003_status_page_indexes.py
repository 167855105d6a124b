"""Indexes for the status page at fleet size

The page counts the tokens in each state from the rows in that state (an unchecked or failing token is
found by its last_result), and its overview charts the valid tokens' expiries per day from two indexes that
hold both columns, so neither reads the whole table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_tokens_last_result": ["last_result"],
    "ix_tokens_valid_expires_at": ["is_valid", "expires_at"],
    "ix_tokens_valid_data_access": ["is_valid", "data_access_expires_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
