"""Indexes for fleet-size-independent database work

- `(lease_owner, id)` (only the leased rows): the end of every sweep tick releases "whatever this daemon
  still holds", which read the whole tokens table once per tick without it. With `id` in it, a write of one
  result (`id = ? AND lease_owner = ?`) finds its row in this index too, instead of every row the owner
  holds.
- `last_check_at` and `last_refresh_at` (only refreshed rows): the call budget's start-up preload reads the
  last hour's checks and refreshes, and the metrics cache's change marker reads the newest check.
- `updated_at`: the metrics cache's change marker reads the newest registry edit.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _partial(column: str) -> dict[str, object]:
    """Only the rows where `column` is set (PostgreSQL and SQLite; MariaDB indexes every row)."""
    where = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": where, "sqlite_where": where}


INDEXES: dict[str, tuple[list[str], dict[str, object]]] = {
    "ix_tokens_lease_owner": (["lease_owner", "id"], _partial("lease_owner")),
    "ix_tokens_last_check_at": (["last_check_at"], {}),
    "ix_tokens_last_refresh_at": (["last_refresh_at"], _partial("last_refresh_at")),
    "ix_tokens_updated_at": (["updated_at"], {}),
}


def upgrade() -> None:
    for name, (columns, options) in INDEXES.items():
        op.create_index(name, "tokens", columns, unique=False, **options)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="tokens")
