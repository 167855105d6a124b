"""Columns of SPEC 16 (migration 0010) that tokens and snapshots share: every Meta token's facts."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

# A token's type as text (USER, PAGE, APP, SYSTEM_USER...): 32 characters; SQLite kept the column of 16 it
# had, as it enforces no length and widening it there would rebuild `tokens` under its snapshots.
TYPE_NAME = String(32).with_variant(String(16), "sqlite")


class MetaFacts:
    """SPEC 16 (0010): Page of a Page token, granular scopes and metadata (JSON), the sources of expiry
    (debug_token|never|refresh|exchange; None: unknown) and validity (debug_token|me)."""

    profile_id: Mapped[str | None] = mapped_column(String(64))
    granular_scopes: Mapped[str | None] = mapped_column(Text)
    token_metadata: Mapped[str | None] = mapped_column(Text)
    expiry_source: Mapped[str | None] = mapped_column(String(16))
    validity_source: Mapped[str | None] = mapped_column(String(16))
