"""Day-2 operations: mutes, resolution reasons, held notifications and the token's change history

`tokens.muted_until` / `apps.muted_until` (with when and why) silence a token or every token of an app: its
alerts fire but reach no notifier until then (`ix_tokens_muted_until`, partial: the muted few). An alert a
mute holds back has `held_until` (the mute's end, when it is looked at again) and may be `resolving` (ended
during the mute, its end owed to the notifiers that heard it fire); `resolved_reason` says why an alert ended
("replaced", "removed", ...). The repeat lookup of 0007 leaves held alerts out, and `ix_alerts_updated_at`
lets the exposition cache notice an alert change. `apps.inspector_changed_at` dates a replaced inspector
credential. `token_events` records what was done to a token besides checks (string replaced or refreshed,
labels, mutes), shown by `tokens history` and the token page.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MUTE_COLUMNS = {"muted_until": sa.Double(), "muted_at": sa.Double(), "mute_comment": sa.String(length=300)}
SET = "muted_until IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inspector_changed_at", sa.Double(), nullable=True))
        for name, kind in MUTE_COLUMNS.items():
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        for name, kind in MUTE_COLUMNS.items():
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.create_index(
            "ix_tokens_muted_until",
            ["muted_until"],
            unique=False,
            postgresql_where=sa.text(SET),
            sqlite_where=sa.text(SET),
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("held_until", sa.Double(), nullable=True))
        batch_op.drop_index("ix_alerts_status_notified")
        batch_op.create_index(
            "ix_alerts_status_held_notified", ["status", "held_until", "last_notified_at"], unique=False
        )
        held = sa.text("held_until IS NOT NULL")
        batch_op.create_index(
            "ix_alerts_held_until", ["held_until"], unique=False, postgresql_where=held, sqlite_where=held
        )
        batch_op.create_index("ix_alerts_updated_at", ["updated_at"], unique=False)
    op.create_table(
        "token_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=True),
        sa.Column("previous_fingerprint", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name=op.f("fk_token_events_token_id_tokens"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_events")),
    )
    with op.batch_alter_table("token_events", schema=None) as batch_op:
        batch_op.create_index("ix_token_events_token_at", ["token_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("token_events")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_updated_at")
        batch_op.drop_index("ix_alerts_held_until")
        batch_op.drop_index("ix_alerts_status_held_notified")
        batch_op.create_index("ix_alerts_status_notified", ["status", "last_notified_at"], unique=False)
        batch_op.drop_column("held_until")
        batch_op.drop_column("resolved_reason")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tokens_muted_until")
        for name in MUTE_COLUMNS:
            batch_op.drop_column(name)
    with op.batch_alter_table("apps", schema=None) as batch_op:
        for name in MUTE_COLUMNS:
            batch_op.drop_column(name)
        batch_op.drop_column("inspector_changed_at")
