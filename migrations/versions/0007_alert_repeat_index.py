"""An index for the incremental alert evaluation's repeat lookup

Between its hourly full passes the alert evaluation reads only the tokens that changed, crossed a threshold,
or have a firing alert whose repeat fell due: `alerts (status, last_notified_at)` finds the last without
reading every firing alert (a fleet with a tenth of its tokens near expiry has that many firing alerts).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_status_notified", "alerts", ["status", "last_notified_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alerts_status_notified", table_name="alerts")
