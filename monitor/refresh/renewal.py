"""The renewal call of one claimed token: its platform's renewal for its kind, with the app's id and secret
when the renewal is an exchange that needs them."""

from __future__ import annotations

from monitor.crypto import Vault
from monitor.graph.client import GraphClient
from monitor.graph.platforms import AppKeys, Renewal, platform_named
from monitor.graph.results import RefreshResult
from monitor.refresh.store import Candidate


def renew(client: GraphClient, vault: Vault, c: Candidate) -> RefreshResult:
    """Renew the token `c` (one call and its retries, as the platform composes them)."""
    platform = platform_named(c.app.platform if c.app is not None else None)
    return platform.renew(client, vault.decrypt(c.secret), c.kind, app_keys(vault, c))


def app_keys(vault: Vault, c: Candidate) -> AppKeys:
    """The app's id and secret, for the renewals that need them (a system-user token's exchange): from
    its app token, else its stored callback secret; none when the monitor holds no secret."""
    app = c.app
    if app is None or platform_named(app.platform).renewal(c.kind) is not Renewal.EXCHANGE:
        return AppKeys()
    if app.inspector_kind == "app_token":
        keys = platform_named(app.platform).app_keys(vault.decrypt(app.inspector_secret))
        if keys is not None:
            return keys
    secret = vault.decrypt(app.callback_secret) if app.callback_secret else None
    return AppKeys(app.app_id, secret)
