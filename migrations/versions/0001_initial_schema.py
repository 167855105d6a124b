"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 18:57:52.476418
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_events_created_at"), ["created_at"], unique=False)

    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("threads_app_id", sa.String(length=64), nullable=True),
        sa.Column("inspector_kind", sa.String(length=16), nullable=False),
        sa.Column("inspector_secret", sa.Text(), nullable=False),
        sa.Column("inspector_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("inspector_state", sa.String(length=16), nullable=True),
        sa.Column("inspector_reason", sa.String(length=32), nullable=True),
        sa.Column("inspector_message", sa.String(length=300), nullable=True),
        sa.Column("inspector_checked_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("name", name=op.f("uq_apps_name")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("notifier", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_notifications_delivery_id")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_sync_at", sa.Double(), nullable=True),
        sa.Column("last_success_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("next_sync_at", sa.Double(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("auto_refresh", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("secret_changed_at", sa.Double(), nullable=False),
        sa.Column("next_check_at", sa.Double(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.Column("last_check_at", sa.Double(), nullable=True),
        sa.Column("last_success_at", sa.Double(), nullable=True),
        sa.Column("last_result", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.Double(), nullable=True),
        sa.Column("observed_at", sa.Double(), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("data_access_expires_at", sa.Double(), nullable=True),
        sa.Column("issued_at", sa.Double(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("expected_scopes", sa.Text(), nullable=True),
        sa.Column("token_type", sa.String(length=16), nullable=True),
        sa.Column("application", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_subcode", sa.Integer(), nullable=True),
        sa.Column("invalid_reason", sa.String(length=32), nullable=True),
        sa.Column("last_refresh_at", sa.Double(), nullable=True),
        sa.Column("next_refresh_at", sa.Double(), nullable=True),
        sa.Column("refresh_failures", sa.Integer(), nullable=False),
        sa.Column("refresh_error", sa.String(length=300), nullable=True),
        sa.Column("writeback_pending", sa.Boolean(), nullable=False),
        sa.Column("writeback_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_tokens_app_id_apps"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_tokens_name")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_app_id"), ["app_id"], unique=False)
        batch_op.create_index("ix_tokens_due", ["next_check_at", "lease_expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_source"), ["source"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("alertname", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Double(), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("last_notified_at", sa.Double(), nullable=True),
        sa.Column("notified_severity", sa.String(length=16), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name=op.f("fk_alerts_token_id_tokens"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_token_id"), ["token_id"], unique=False)

    op.create_table(
        "snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.Double(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("is_valid", sa.Boolean(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("data_access_expires_at", sa.Double(), nullable=True),
        sa.Column("issued_at", sa.Double(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("token_type", sa.String(length=16), nullable=True),
        sa.Column("application", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_subcode", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name=op.f("fk_snapshots_token_id_tokens"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_token_observed", ["token_id", "observed_at"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index a foreign key still uses.
    for table in ("snapshots", "alerts", "tokens", "sources", "notifications", "apps", "alert_events"):
        op.drop_table(table)
