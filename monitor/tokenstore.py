"""The read path for applications: the current (possibly refreshed) token string by name.

    from monitor.tokenstore import current_token
    token = current_token("acme-main", config_path="/etc/threads-token-monitor/config.toml")

The daemon replaces a refreshed token's string in the registry; applications that read it from here always
get the string that is valid now.
"""

from __future__ import annotations

from pathlib import Path

from monitor.context import Context


def current_token(name: str, *, config_path: str | Path | None = None, context: Context | None = None) -> str:
    """The decrypted current token string registered as `name`. Raises RegistryError if there is none."""
    from monitor.config.load import load_config
    from monitor.registry import get_token

    ctx = context or Context(load_config(Path(config_path or "/etc/threads-token-monitor/config.toml")))
    try:
        with ctx.sessions() as s:
            secret = get_token(s, name).secret
        return ctx.vault.decrypt(secret)
    finally:
        if context is None:
            ctx.close()
