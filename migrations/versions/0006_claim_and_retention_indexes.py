"""Indexes for the refresh job's claim and for retention

`(auto_refresh, expires_at)` over the tokens that opted in to automatic refresh (a partial index on
PostgreSQL and SQLite; MariaDB indexes every row, led by the flag). The refresh job claims the opted-in
tokens nearest their expiry every few seconds; without this index PostgreSQL followed `ix_tokens_is_valid`
and read every valid token per claim whenever its statistics were older than the checks, as they are
during the first sweep of a freshly imported fleet (measured: 1.15 million rows read by 61 claims during a
100,000-token first sweep).

`snapshots (observed_at, id)`: the daily retention pass reads the snapshots older than its cutoff once, in
this order, instead of grouping every snapshot by token for each batch of 5,000 deletions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("auto_refresh IS true")
    op.create_index(
        "ix_tokens_auto_refresh",
        "tokens",
        ["auto_refresh", "expires_at"],
        unique=False,
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_index("ix_snapshots_observed", "snapshots", ["observed_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_snapshots_observed", table_name="snapshots")
    op.drop_index("ix_tokens_auto_refresh", table_name="tokens")
