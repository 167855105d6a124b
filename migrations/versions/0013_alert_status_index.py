"""Drop `ix_alerts_status`: the repeat lookup reads `ix_alerts_status_held_notified` instead

`alerts (status)` alone led with the same column as `alerts (status, held_until, last_notified_at)` (0008),
and on a table without statistics (a server without autovacuum) the planner chose the narrow one for the
incremental evaluation's lookup of firing alerts whose repeat fell due: every firing alert read on every
evaluation, 4 rows per check at 2,400 tokens with a tenth of them firing (bench/RESULTS.md, issue 30). Every
query by status alone reads the composite index as well.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_status", table_name="alerts")


def downgrade() -> None:
    op.create_index("ix_alerts_status", "alerts", ["status"], unique=False)
