"""The fleet counts' tables (migration 0012): deltas appended by the triggers on `tokens`, folded into counts.

monitor.metrics.fleet reads them and folds the deltas; the migration's docstring says what the triggers count.
"""

from __future__ import annotations

from sqlalchemy import Double, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from monitor.db.base import Base, BigId


class FleetDelta(Base):
    """A change to the fleet counts, appended by the triggers on `tokens` (migration 0012 says which)."""

    __tablename__ = "fleet_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # total | source (name) | expires_at | data_access (bucket)
    name: Mapped[str] = mapped_column(String(100))
    bucket: Mapped[float] = mapped_column(Double)  # FLOOR(horizon / 600) of a valid token
    delta: Mapped[int] = mapped_column(Integer)


class FleetCount(Base):
    """The deltas folded (monitor.metrics.fleet.compact): one row per kind, name and bucket, none at 0."""

    __tablename__ = "fleet_counts"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[float] = mapped_column(Double, primary_key=True)
    tokens: Mapped[int] = mapped_column(Integer)
