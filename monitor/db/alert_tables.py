"""The alert tables: each alert's ladder state, transitions waiting for group_wait, and the notification
outbox. Defined on the registry's `Base`; `monitor.db.models` imports this module and re-exports them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Double, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.db.base import Base, BigId, where_set


class Alert(Base):
    """The stored state of one alert's ladder (firing, escalated, repeated, resolved)."""

    __tablename__ = "alerts"
    __table_args__ = (
        # The incremental evaluation's lookup of firing alerts whose repeat fell due, leaving out those a
        # mute holds (migration 0008; 0007 had (status, last_notified_at)).
        Index("ix_alerts_status_held_notified", "status", "held_until", "last_notified_at"),
        # Alerts whose hold ended since the previous evaluation; the exposition cache's change marker.
        Index("ix_alerts_held_until", "held_until", **where_set("held_until")),
        Index("ix_alerts_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # alertname + subject
    alertname: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))  # token, app or source name
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id", ondelete="SET NULL"), index=True)
    # firing | resolving (ended during a mute; its end is owed to the notifiers that heard it fire) | resolved
    # (read through ix_alerts_status_held_notified, which leads with it; migration 0013)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(32))
    at: Mapped[float | None] = mapped_column(Double)  # when the thing happens (e.g. expires_at)
    started_at: Mapped[float] = mapped_column(Double)
    last_notified_at: Mapped[float | None] = mapped_column(Double)
    # The severity the notifiers last heard firing (None: they have not heard it fire, or heard it end).
    notified_severity: Mapped[str | None] = mapped_column(String(16))
    resolved_at: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    # Why it ended (monitor.alerting.reasons); on a firing alert, why it will (its token was removed).
    resolved_reason: Mapped[str | None] = mapped_column(String(32))
    # Set while a mute holds back what the notifiers should hear: the mute's end, when it is looked at again.
    held_until: Mapped[float | None] = mapped_column(Double)


class AlertEventRow(Base):
    """An alert transition waiting to be grouped into notifications (group_wait)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[float] = mapped_column(Double, index=True)
    payload: Mapped[str] = mapped_column(Text)  # AlertEvent as JSON


class Notification(Base):
    """The durable outbox: a message for one notifier, written before it is sent."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_notifier_status", "notifier", "status"),  # migration 0009
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    notifier: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # Message as JSON
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed | dropped
    created_at: Mapped[float] = mapped_column(Double)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[float | None] = mapped_column(Double)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Double)
