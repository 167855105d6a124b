"""The one dict from a platform's name to its rules (SPEC 16; STYLE 17)."""

from __future__ import annotations

from monitor.graph.base import AppKeys, Platform, Renewal
from monitor.graph.facebook import Facebook
from monitor.graph.instagram import Instagram
from monitor.graph.threads import Threads

__all__ = ["PLATFORMS", "AppKeys", "Platform", "Renewal", "platform_named"]

PLATFORMS: dict[str, Platform] = {p.name: p for p in (Threads(), Facebook(), Instagram())}


def platform_named(name: str | None) -> Platform:
    """The platform called `name` (None: Threads, as every app registered before platforms existed)."""
    try:
        return PLATFORMS[name or "threads"]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; one of {', '.join(PLATFORMS)}") from None
