"""The secrets a configuration holds, in the forms the product sends them.

`config_secrets`: outside the notifiers; `all_secrets` adds the notifiers' (each notifier type knows how it
sends its own). The sum is what every log line, stored error and printed message is redacted of
(monitor.redact).
"""

from __future__ import annotations

from monitor.config.model import Config
from monitor.notify import secrets_of
from monitor.redact import credential_forms, url_secrets

__all__ = ["all_secrets", "config_secrets"]


def all_secrets(config: Config) -> list[str]:
    """Every secret `config` holds, its notifiers' included, in the forms the product sends them: what
    logs, stored errors and printed messages are redacted of, whichever component's text carries it."""
    return [*config_secrets(config), *(s for n in config.notifiers for s in secrets_of(n))]


def config_secrets(config: Config) -> list[str]:
    """Database and source URLs (whole, their paths, their passwords), the status page's basic-auth
    password (and its Basic form), the [callbacks] API token and forward_url, the [heartbeat] URL."""
    out = [*url_secrets(config.database.url)]
    for source in config.sources:
        out += url_secrets(source.url)
    http = config.http
    out += credential_forms(http.basic_auth_username, http.basic_auth_password)
    if config.callbacks is not None:
        out += [config.callbacks.api_token or "", *url_secrets(config.callbacks.forward_url)]
    if config.heartbeat is not None:
        out += url_secrets(config.heartbeat.url)
    return [secret for secret in out if secret]
