"""Every key the configuration accepts, once: section -> key -> Field(parser, required, default, secret).

Defaults of the sections live on the dataclasses in config.py (a key left out is simply not passed); only
notifier settings, which have no dataclass, carry their defaults (notifier_keys.py holds `[[notifiers]]`).
`config_keys()` is derived from these tables, and a test compares it with config.example.toml both ways.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from monitor.config.dburl import database_url
from monitor.config.fields import Field, opt
from monitor.config.values import (
    ParseContext,
    accepts,
    boolean,
    describe,
    duration,
    existing_file,
    http_url,
    integer,
    kind_of,
    number,
    optional_http_url,
    path,
    schema_of,
    split_host_port,
    string,
)

DAY = 86400.0


@accepts(
    {"type": "string", "pattern": r"^(\[.+\]|[^:]+):\d+$", "description": '"HOST:PORT" or "[IPV6]:PORT"'}
)
def listen_address(value: Any, ctx: ParseContext) -> str:
    split_host_port(string()(value, ctx))
    return str(value)


@accepts({"type": "array", "minItems": 1, "items": schema_of(path)})
def path_list(value: Any, ctx: ParseContext) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty array of paths (newest key first), got {describe(value)}")
    return tuple(path(item, ctx) for item in value)


@accepts({"type": "string", "allOf": [{"pattern": ":name"}, {"pattern": ":token"}]})
def on_refresh_statement(value: Any, ctx: ParseContext) -> str:
    string()(value, ctx)
    missing = [name for name in (":name", ":token") if name not in value]
    if missing:
        raise ValueError(f"the statement must use both :name and :token (missing {' and '.join(missing)})")
    return str(value)


MIN_API_TOKEN = 32
MIN_DISTINCT = 8  # "abab..." is long, not strong


@accepts({"type": "string", "minLength": MIN_API_TOKEN, "pattern": r"^\S(.*\S)?$"})
def api_token(value: Any, ctx: ParseContext) -> str:
    """The bearer token of the [callbacks] API: long, varied, without surrounding whitespace (the token a
    client sends never has any, so a padded one could never match). Messages never show it."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind_of(value)}")
    if value != value.strip():
        raise ValueError("must not begin or end with whitespace (a client's bearer token never does)")
    hint = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if len(value) < MIN_API_TOKEN:
        raise ValueError(f"must be at least {MIN_API_TOKEN} characters ({hint})")
    if len(set(value)) < MIN_DISTINCT:
        raise ValueError(f"is too repetitive to be guessed slowly ({hint})")
    return value


@accepts(schema_of(http_url))
def forward_url(value: Any, ctx: ParseContext) -> str:
    """An http(s) URL that may hold `{app}` (the app's name, URL-quoted, is put there when relaying)."""
    url = http_url(value, ctx)
    try:
        url.format(app="app")
    except (IndexError, KeyError, ValueError):
        raise ValueError("the only placeholder a forward_url may hold is {app}") from None
    return url


PROMETHEUS_LABEL = r"^[A-Za-z_][A-Za-z0-9_]*$"


@accepts({"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": PROMETHEUS_LABEL}})
def label_keys(value: Any, ctx: ParseContext) -> tuple[str, ...]:
    """Registry label keys to export as `label_KEY` on threads_token_labels: each must make a valid
    Prometheus label name; a problem names the key."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f'expected an array of label keys like ["team", "env"], got {describe(value)}')
    for key in value:
        if not re.fullmatch(PROMETHEUS_LABEL, key):
            raise ValueError(
                f"{key!r} is not a valid label key for Prometheus "
                "(letters, digits and _, not starting with a digit)"
            )
    duplicates = sorted({key for key in value if value.count(key) > 1})
    if duplicates:
        raise ValueError(f"{', '.join(map(repr, duplicates))} listed more than once")
    return tuple(value)


@accepts(schema_of(http_url) | {"description": "the base URL Meta's users see (no query or fragment)"})
def public_url(value: Any, ctx: ParseContext) -> str:
    """The base of the data deletion status pages' URL: http(s), a host, no query, fragment or credentials
    (people open it; it is not a secret, so a problem may name it)."""
    url = http_url(value, ctx)
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment or "#" in url or "?" in url or parts.username:
        raise ValueError(f"expected a base URL such as https://monitor.example.com, got {url!r}")
    return url


@accepts({"type": "object"})
def sub_table(value: Any, ctx: ParseContext) -> Any:
    """The parsed children of a sub-table, as a dict; the section's builder assembles them."""
    return value


THRESHOLD_FIELDS: Mapping[str, Field] = {
    "warning": Field(duration(60.0)),
    "critical": Field(duration(60.0)),
}

PLATFORM_FIELDS: Mapping[str, Field] = {
    "base_url": Field(http_url),
    "api_version": Field(string()),
}

SECTIONS: Mapping[str, Mapping[str, Field]] = {
    "database": {
        "url": Field(database_url, secret=True),
        "pool_size": Field(integer(1, 1000)),
    },
    "security": {
        "key_file": Field(path),
        "key_files": Field(path_list),
    },
    "threads": {
        # The old place of [platforms.threads]: no default of their own here (config/hosts.py merges them).
        "base_url": opt(http_url, None),
        "api_version": opt(string(), None),
        "timeout": Field(duration(0.1, 300.0)),
        "concurrency": Field(integer(1, 256)),
        "max_calls_per_hour": Field(integer(1, 10_000_000)),
        "retries": Field(integer(0, 10)),
    },
    "platforms": {
        "threads": Field(sub_table, children=PLATFORM_FIELDS),
        "facebook": Field(sub_table, children=PLATFORM_FIELDS),
        "instagram": Field(sub_table, children=PLATFORM_FIELDS),
    },
    "schedule": {
        "sweep_interval": Field(duration(1.0, 3600.0)),
        "max_check_interval": Field(duration(60.0)),
        "min_check_interval": Field(duration(1.0)),
        "retention": Field(duration(DAY)),
        "lease": Field(duration(10.0, DAY)),
        "jitter": Field(number(0.0, 0.5)),
    },
    "http": {
        "listen": Field(listen_address),
        "tls_cert_file": Field(existing_file),
        "tls_key_file": Field(existing_file),
        "basic_auth_username": Field(string()),
        "basic_auth_password": Field(string(), secret=True),
        "external_url": Field(optional_http_url),
    },
    "metrics": {
        "per_token": Field(string(choices=("all", "problems", "none"))),
        "scopes": Field(boolean),
        "labels": Field(label_keys),
    },
    "refresh": {
        "enabled": Field(boolean),
        "before": Field(duration(3600.0, 59 * DAY)),
        "min_age": Field(duration(0.0, 59 * DAY)),
    },
    "alerts": {
        "expiry": Field(sub_table, children=THRESHOLD_FIELDS),
        "data_access": Field(sub_table, children=THRESHOLD_FIELDS),
        "check_failing_after": Field(duration(60.0)),
        "repeat_interval": Field(duration(60.0)),
        "group_wait": Field(duration(0.0, 3600.0)),
        "notification_ttl": Field(duration(60.0)),
    },
    "log": {
        "level": Field(string(choices=("debug", "info", "warning", "error"))),
    },
    "callbacks": {
        "listen": Field(listen_address),
        "tls_cert_file": Field(existing_file),
        "tls_key_file": Field(existing_file),
        "api_token": Field(api_token, secret=True),
        "forward_url": Field(forward_url),
        "public_url": Field(public_url),
        "max_connections": Field(integer(1, 10_000)),
        "max_connections_per_client": Field(integer(1, 10_000)),
        "header_timeout": Field(duration(0.1, 300.0)),
        "request_timeout": Field(duration(0.1, 300.0)),
        "idle_timeout": Field(duration(0.1, 300.0)),
        "recheck_share": Field(number(0.01, 1.0)),
        "recheck_max_tokens": Field(integer(1, 10_000)),
    },
    "heartbeat": {
        "url": Field(http_url, required=True, secret=True),
        "interval": Field(duration(1.0, DAY)),
        "timeout": Field(duration(0.1, 60.0)),
    },
}

# Sections that are off unless the file has them (the daemon builds nothing for an absent one).
OPTIONAL_SECTIONS = frozenset({"callbacks", "heartbeat"})

SOURCE_FIELDS: Mapping[str, Field] = {
    "name": Field(string(), required=True),
    "url": Field(database_url, required=True, secret=True),
    "app": Field(string()),
    "query": Field(string(), required=True),
    "sync_interval": Field(duration(10.0)),
    "on_refresh": Field(on_refresh_statement),
    "max_rows": Field(integer(1, 10_000_000)),
}
