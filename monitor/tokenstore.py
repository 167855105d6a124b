"""The read path for applications: the current (possibly refreshed) token string by name.

    from monitor.tokenstore import current_token
    token = current_token("acme-main", config_path="/etc/threads-token-monitor/config.toml")

The daemon replaces a refreshed token's string in the registry; applications that read it from here always
get the string that is valid now. A stable import: the registry itself is the package monitor.registry
(`current_string`); this module only opens the configured database for it.
"""

from __future__ import annotations

from pathlib import Path

from monitor.config.load import load_config
from monitor.context import Context
from monitor.registry import RegistryError, current_string

__all__ = ["RegistryError", "current_token"]

DEFAULT_CONFIG = Path("/etc/threads-token-monitor/config.toml")


def current_token(name: str, *, config_path: str | Path | None = None, context: Context | None = None) -> str:
    """The decrypted current token string registered as `name`. Raises RegistryError if there is none."""
    ctx = context or Context(load_config(Path(config_path or DEFAULT_CONFIG)))
    try:
        with ctx.sessions() as s:
            return current_string(s, ctx.vault, name)
    finally:
        if context is None:
            ctx.close()
