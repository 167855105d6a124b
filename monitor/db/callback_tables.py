"""The callbacks' tables: a verified deauthorize callback or recheck request, and a data deletion request
done (SPEC 11, 16). Defined on the registry's `Base`; `monitor.db.models` imports this module."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Double, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from monitor.db.base import Base, BigId


class Callback(Base):
    """A verified deauthorize callback or recheck request, stored before it is acknowledged."""

    __tablename__ = "callbacks"
    # A deauthorize callback is stored once: a replay of it is no news (migration 0009).
    __table_args__ = (Index("ux_callbacks_once", "kind", "app_id", "user_id", "issued_at", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # deauthorize | recheck
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[float | None] = mapped_column(Double)
    received_at: Mapped[float] = mapped_column(Double, index=True)
    tokens: Mapped[int] = mapped_column(Integer, default=0)  # tokens it queued for a check


class Deletion(Base):
    """A data deletion request done (SPEC 16): what `GET /deletion/<code>` shows; no user id in it."""

    __tablename__ = "deletions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the confirmation code, unguessable
    request_key: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC keyed with the app secret
    # HMAC (keyed with the app secret) of the app and the user: a later deauthorize callback about the same
    # user is then recognised, and not stored again naming them, without the id being kept.
    user_key: Mapped[str | None] = mapped_column(String(64), index=True)
    app: Mapped[str] = mapped_column(String(100))  # its name then: the record outlives the app
    platform: Mapped[str] = mapped_column(String(16))
    done_at: Mapped[float] = mapped_column(Double)  # when the deletion was done (and the page says so)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # rows deleted, by kind


# The Core tables of the leased models, typed as Table (SQLAlchemy types __table__ as a FromClause).
