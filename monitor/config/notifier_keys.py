"""The keys of a `[[notifiers]]` entry: the fields every notifier has and those of each type, with the
defaults of the type's settings (notifiers have no dataclass); `config.load` and the schema read them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from monitor.config.fields import Field, opt
from monitor.config.keys import DAY
from monitor.config.values import (
    NONEMPTY,
    ParseContext,
    accepts,
    boolean,
    duration,
    email_address,
    email_list,
    existing_file,
    http_url,
    integer,
    string,
    string_table,
)

NOTIFIER_TYPES = ("slack", "webhook", "email", "alertmanager", "console", "apprise")
SEVERITIES = ("warning", "critical")
EMAIL_SECURITY = ("starttls", "ssl", "none")
SMTP_DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "ssl": 465, "none": 25}


def _url_scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isalnum() and len(scheme) <= 20 else "?"


def _apprise_loads(url: str) -> bool:
    """Whether Apprise can build a service from `url`, offline (plugins only parse; nothing connects)."""
    # Apprise logs a URL it cannot parse, credentials included: nothing of it may reach a handler (set
    # before the import, which logs too).
    logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
    # Imported here: apprise takes about 0.2 s to import, paid only where an apprise notifier is configured.
    import apprise

    return apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(secure_logging=True)) is not None


@accepts(NONEMPTY | {"description": "Apprise URLs, one a line (https://appriseit.com/services/)"})
def apprise_urls(value: Any, ctx: ParseContext) -> tuple[str, ...]:
    """Apprise URLs: text with one a line (blank lines and `#` comments ignored) or a list of strings.
    Every URL must load in Apprise; a problem names the URL's position and scheme, never the URL."""
    lines = value.splitlines() if isinstance(value, str) else value
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ValueError("expected Apprise URLs, one a line")
    urls = tuple(line.strip() for line in lines if line.strip() and not line.strip().startswith("#"))
    if not urls:
        raise ValueError("expected at least one Apprise URL")
    bad = [f"urls[{i}] ({_url_scheme(url)})" for i, url in enumerate(urls) if not _apprise_loads(url)]
    if bad:
        raise ValueError(f"not a URL Apprise can use: {', '.join(bad)} (see https://appriseit.com/services/)")
    return urls


NOTIFIER_FIELDS: Mapping[str, Field] = {
    "name": Field(string(), required=True),
    "type": Field(string(choices=NOTIFIER_TYPES), required=True),
    "min_severity": Field(string(choices=SEVERITIES)),
    "match": Field(string_table),
    "send_resolved": Field(boolean),
    "timeout": Field(duration(0.1, 300.0)),
}

NOTIFIER_TYPE_FIELDS: Mapping[str, Mapping[str, Field]] = {
    "slack": {
        "webhook_url": Field(http_url, required=True, secret=True),
    },
    "webhook": {
        "url": Field(http_url, required=True, secret=True),
        "secret": opt(string(), None, secret=True),
    },
    "email": {
        "smtp_host": Field(string(), required=True),
        "smtp_port": opt(integer(1, 65535), None),  # None: chosen by `security`, see SMTP_DEFAULT_PORTS
        "security": opt(string(choices=EMAIL_SECURITY), "starttls"),
        "username": opt(string(), None),
        "password": opt(string(), None, secret=True),
        "from": Field(email_address, required=True),
        "to": Field(email_list, required=True),
        "ca_file": opt(existing_file, None),
    },
    "alertmanager": {
        "url": Field(http_url, required=True),
        "username": opt(string(), None),
        "password": opt(string(), None, secret=True),
        # How long Alertmanager keeps a firing alert without news; keep it above repeat_interval.
        "resolve_timeout": opt(duration(300.0, 30 * DAY), 26 * 3600.0),
    },
    "console": {},
    "apprise": {
        "urls": Field(apprise_urls, required=True, secret=True, many=True),
    },
}
