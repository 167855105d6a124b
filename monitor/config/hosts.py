"""[platforms.*] (SPEC 16): where each Meta platform's Graph API answers, and the old [threads] keys.

`[threads] base_url` and `api_version` are the old place of `[platforms.threads]`: either place works, both
at once is a problem naming both keys. Once loaded, `Config.threads` and `Config.platforms.threads` agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from monitor.config.model import PlatformConfig, PlatformsConfig, ThreadsConfig
from monitor.config.values import ParseContext

HOST_KEYS = ("base_url", "api_version")


def build_platforms(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> PlatformsConfig:
    """The parsed [platforms] table: each platform's given keys over its defaults."""
    defaults = PlatformsConfig()
    given = {name: replace(getattr(defaults, name), **table) for name, table in values.items()}
    return replace(defaults, **given)


def merge_threads(
    ctx: ParseContext, data: Mapping[str, Any], threads: ThreadsConfig, platforms: PlatformsConfig
) -> tuple[ThreadsConfig, PlatformsConfig]:
    """Read [threads] base_url/api_version as [platforms.threads]; both given is a problem."""
    old, new = _table(data, "threads"), _table(_table(data, "platforms"), "threads")
    chosen: dict[str, str] = {}
    for key in HOST_KEYS:
        if key in old and key in new:
            ctx.problem(
                f"platforms.threads.{key}",
                f"also given as threads.{key} (the old place of the same setting): keep one of them",
            )
        chosen[key] = (
            getattr(threads, key) if key in old and key not in new else getattr(platforms.threads, key)
        )
    host = PlatformConfig(chosen["base_url"], chosen["api_version"])
    return replace(threads, base_url=host.base_url, api_version=host.api_version), replace(
        platforms, threads=host
    )


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def host_urls(data: Mapping[str, Any], platforms: PlatformsConfig) -> list[tuple[str, str]]:
    """(key the user wrote, URL) for every platform's base_url, for the plain-text check."""
    threads_given = "base_url" in _table(_table(data, "platforms"), "threads")
    return [
        ("platforms.threads.base_url" if threads_given else "threads.base_url", platforms.threads.base_url),
        ("platforms.facebook.base_url", platforms.facebook.base_url),
        ("platforms.instagram.base_url", platforms.instagram.base_url),
    ]
