"""A deauthorize callback is stored once; the relay backlog is counted per app

A replayed deauthorize callback (the same app, user and issued_at) carries no news: `ux_callbacks_once` makes
the second copy impossible to store (copies stored before this revision are removed, the first kept).
`ix_notifications_notifier_status` counts one notifier's pending messages, and one app's pending relays
(each app's relays are a channel of their own, `callbacks-forward/APP`), without reading the others.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A derived table around the kept ids: MariaDB refuses a DELETE whose subquery reads its own table.
    op.execute(
        sa.text(
            "DELETE FROM callbacks WHERE kind = 'deauthorize' AND id NOT IN ("
            " SELECT keep FROM (SELECT MIN(id) AS keep FROM callbacks WHERE kind = 'deauthorize'"
            " GROUP BY app_id, user_id, issued_at) AS kept)"
        )
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ux_callbacks_once", ["kind", "app_id", "user_id", "issued_at"], unique=True)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_notifier_status", ["notifier", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_notifier_status")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index("ux_callbacks_once")
