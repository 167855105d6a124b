"""Cross-key checks that keep secrets off the wire in clear text, refused when the config is loaded.

An `http://` Threads API URL would send every token (they travel in the query string) unencrypted, and an
email notifier with `security = "none"` would send its SMTP password in clear. Both are refused unless the
peer is on this machine (the simulator, a local relay), where nothing crosses a network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from monitor.config.model import NotifierConfig
from monitor.config.values import ParseContext


def is_loopback(host: str | None) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_plaintext(
    ctx: ParseContext, hosts: Sequence[tuple[str, str]], notifiers: Sequence[NotifierConfig]
) -> None:
    """Report each setting that would send a token or a password unencrypted to another machine; `hosts`
    are (key, URL) of every platform's API root."""
    for key, url in hosts:
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            ctx.problem(
                key,
                "http:// would send every access token in clear: use https:// "
                "(plain http only to this machine, such as the built-in simulator)",
            )
    for i, n in enumerate(notifiers):
        settings = n.settings
        if n.type != "email" or settings.get("security") != "none":
            continue
        if (settings.get("username") or settings.get("password")) and not is_loopback(
            settings.get("smtp_host")
        ):
            ctx.problem(
                f"notifiers[{i}].security",
                '"none" would send the SMTP password in clear to another machine: '
                'use "starttls" or "ssl" (or a relay on localhost)',
            )
