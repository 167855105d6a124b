"""TOML configuration -> frozen dataclasses, with every problem reported at once.

`load_config(path)` reads and validates the whole file and raises `ConfigError` listing every problem as
"FILE: KEY.PATH: message" (arrays of tables are indexed from 0: `notifiers[1]` is the second `[[notifiers]]`).
Each section's accepted keys live in one table (keys.py, key -> `Field(parser, ...)`); defaults
live on the dataclasses of model.py. `config_keys()` derives the accepted key set from those tables.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.config.fields import field_keys, parse_fields, unknown_key
from monitor.config.hosts import build_platforms, host_urls, merge_threads
from monitor.config.keys import (
    MIN_API_TOKEN,
    OPTIONAL_SECTIONS,
    SECTIONS,
    SOURCE_FIELDS,
    split_host_port,
)
from monitor.config.model import (
    AlertsConfig,
    CallbacksConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    HeartbeatConfig,
    HttpConfig,
    LogConfig,
    MetricsConfig,
    NotifierConfig,
    PlatformsConfig,
    RefreshConfig,
    ScheduleConfig,
    SecurityConfig,
    SourceConfig,
    ThreadsConfig,
    Thresholds,
)
from monitor.config.notifier_keys import NOTIFIER_FIELDS, NOTIFIER_TYPE_FIELDS, SMTP_DEFAULT_PORTS
from monitor.config.safety import check_plaintext
from monitor.config.values import (
    FrozenMap,
    ParseContext,
    TooLarge,
    describe,
    format_duration,
    parse_duration,
    read_bounded,
)

__all__ = [
    "AlertsConfig", "CallbacksConfig", "Config", "ConfigError", "DatabaseConfig", "HeartbeatConfig",
    "HttpConfig", "LogConfig", "MetricsConfig", "NotifierConfig", "PlatformsConfig", "RefreshConfig",
    "ScheduleConfig", "SecurityConfig", "SourceConfig", "ThreadsConfig", "Thresholds", "config_keys",
    "config_path", "default_config", "load_config", "parse_config", "parse_duration", "split_host_port",
    "MIN_API_TOKEN", "MAX_CONFIG_BYTES",
]  # fmt: skip

DEFAULT_CONFIG = "/etc/threads-token-monitor/config.toml"
CONFIG_ENV = "THREADS_TOKEN_MONITOR_CONFIG"
MAX_CONFIG_BYTES = 1 << 20  # a real configuration is a few KiB; more is a wrong path (a device, a log)


def default_config() -> Config:
    """The configuration used when every key is left at its default (no notifiers, no sources)."""
    return Config()


def config_keys() -> set[str]:
    """Every dotted key the loader accepts ("threads.timeout", "notifiers[].webhook_url_env", ...)."""
    keys: set[str] = set()
    for name, fields in SECTIONS.items():
        keys |= field_keys(name, fields)
    keys |= field_keys("notifiers[]", NOTIFIER_FIELDS)
    for fields in NOTIFIER_TYPE_FIELDS.values():
        keys |= field_keys("notifiers[]", fields)
    return keys | field_keys("sources[]", SOURCE_FIELDS)


def config_path(given: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: `--config`, else $THREADS_TOKEN_MONITOR_CONFIG, else the system path."""
    env = os.environ if env is None else env
    return Path(given or env.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML file; raises ConfigError naming the file and listing every problem.

    Whatever the file holds (any bytes, any nesting, a directory or a device in its place), the outcome is a
    Config or a ConfigError, never another exception. `env` (default `os.environ`) supplies `*_env` secrets
    and `$CREDENTIALS_DIRECTORY`.
    """
    path = Path(path)
    try:
        data = tomllib.loads(read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8"))
        return parse_config(data, path=path, env=env)
    except ConfigError:
        raise
    except TooLarge:
        raise ConfigError([f"the file is larger than {MAX_CONFIG_BYTES} bytes"], path) from None
    except UnicodeDecodeError:
        raise ConfigError(["the configuration file is not UTF-8 text"], path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"invalid TOML: {exc}"], path) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([f"cannot read the configuration file: {reason}"], path) from None
    except RecursionError:
        raise ConfigError(["values are nested too deeply to be read"], path) from None


def parse_config(
    data: Mapping[str, Any], *, path: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Validate already-parsed TOML data (as `tomllib` returns it); relative paths resolve against
    `path`'s directory (else the working directory) unless $CREDENTIALS_DIRECTORY is set."""
    config_dir = path.absolute().parent if path is not None else Path.cwd()
    ctx = ParseContext(env=os.environ if env is None else env, config_dir=config_dir)
    known = [*SECTIONS, "notifiers", "sources"]
    for key in data:
        if key not in known:
            unknown_key(ctx, key, key, known)
    sections: dict[str, Any] = {}
    for name, fields in SECTIONS.items():
        if name in OPTIONAL_SECTIONS and name not in data:
            continue
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            ctx.problem(name, f"expected a table ([{name}]), got {describe(raw)}")
            continue
        values, ok = parse_fields(ctx, name, raw, fields)
        if ok:
            sections[name] = _BUILDERS[name](ctx, name, values)
    notifiers = _parse_array(ctx, "notifiers", data.get("notifiers", []), _parse_notifier)
    sources = _parse_array(ctx, "sources", data.get("sources", []), _parse_source)
    _check_resolve_timeouts(ctx, sections.get("alerts", AlertsConfig()), notifiers)
    threads, platforms = merge_threads(
        ctx, data, sections.get("threads", ThreadsConfig()), sections.get("platforms", PlatformsConfig())
    )
    sections["threads"], sections["platforms"] = threads, platforms
    check_plaintext(ctx, host_urls(data, platforms), notifiers)
    if ctx.problems:
        raise ConfigError(ctx.problems, path)
    return Config(**sections, notifiers=notifiers, sources=sources, path=path)


def _check_resolve_timeouts(
    ctx: ParseContext, alerts: AlertsConfig, notifiers: Sequence[NotifierConfig]
) -> None:
    """Alertmanager resolves a firing alert not re-sent before its endsAt: the repeat must come first."""
    for i, n in enumerate(notifiers):
        timeout = n.settings.get("resolve_timeout") if n.type == "alertmanager" else None
        if timeout is not None and timeout <= alerts.repeat_interval:
            ctx.problem(
                f"notifiers[{i}].resolve_timeout",
                "must be longer than alerts.repeat_interval, "
                "or Alertmanager resolves the alert between re-sends",
            )


# ---------------------------------------------------------------------------------------------- builders


def _build_security(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> SecurityConfig:
    if "key_file" in values and "key_files" in values:
        ctx.problem(prefix, "give key_file or key_files, not both")
    if "key_files" in values:
        return SecurityConfig(key_files=values["key_files"])
    if "key_file" in values:
        return SecurityConfig(key_files=(values["key_file"],))
    return SecurityConfig()


def _build_schedule(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> ScheduleConfig:
    schedule = ScheduleConfig(**values)
    if schedule.min_check_interval > schedule.max_check_interval:
        low, high = format_duration(schedule.min_check_interval), format_duration(schedule.max_check_interval)
        ctx.problem(f"{prefix}.min_check_interval", f"{low} must not exceed max_check_interval ({high})")
    return schedule


def _build_http(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> HttpConfig:
    for first, second in (("tls_cert_file", "tls_key_file"), ("basic_auth_username", "basic_auth_password")):
        if (first in values) != (second in values):
            given, missing = (first, second) if first in values else (second, first)
            ctx.problem(f"{prefix}.{missing}", f"required when {given} is set (give both or neither)")
    return HttpConfig(**values)


def _build_callbacks(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> CallbacksConfig:
    if ("tls_cert_file" in values) != ("tls_key_file" in values):
        given, missing = ("tls_cert_file", "tls_key_file")[:: 1 if "tls_cert_file" in values else -1]
        ctx.problem(f"{prefix}.{missing}", f"required when {given} is set (give both or neither)")
    config = CallbacksConfig(**values)
    if config.max_connections_per_client > config.max_connections:
        ctx.problem(f"{prefix}.max_connections_per_client", "must not exceed max_connections")
    if config.header_timeout > config.request_timeout:
        ctx.problem(
            f"{prefix}.header_timeout", "must not exceed request_timeout (the head is part of the request)"
        )
    return config


def _build_alerts(ctx: ParseContext, prefix: str, values: dict[str, Any]) -> AlertsConfig:
    defaults = AlertsConfig()
    for name in ("expiry", "data_access"):
        if name not in values:
            continue
        thresholds = replace(getattr(defaults, name), **values[name])
        if thresholds.critical >= thresholds.warning:
            critical, warning = format_duration(thresholds.critical), format_duration(thresholds.warning)
            ctx.problem(f"{prefix}.{name}", f"critical ({critical}) must be shorter than warning ({warning})")
        values[name] = thresholds
    return AlertsConfig(**values)


def _plain_builder(cls: type) -> Callable[[ParseContext, str, dict[str, Any]], Any]:
    return lambda ctx, prefix, values: cls(**values)


_BUILDERS: Mapping[str, Callable[[ParseContext, str, dict[str, Any]], Any]] = {
    "database": _plain_builder(DatabaseConfig),
    "security": _build_security,
    "threads": _plain_builder(ThreadsConfig),
    "platforms": build_platforms,
    "schedule": _build_schedule,
    "http": _build_http,
    "metrics": _plain_builder(MetricsConfig),
    "refresh": _plain_builder(RefreshConfig),
    "alerts": _build_alerts,
    "log": _plain_builder(LogConfig),
    "callbacks": _build_callbacks,
    "heartbeat": _plain_builder(HeartbeatConfig),
}


def _parse_array(
    ctx: ParseContext, name: str, value: Any, parse_item: Callable[[ParseContext, str, dict[str, Any]], Any]
) -> tuple[Any, ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        ctx.problem(name, f"expected an array of tables ([[{name}]]), got {describe(value)}")
        return ()
    items = [parse_item(ctx, f"{name}[{index}]", raw) for index, raw in enumerate(value)]
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        item_name = raw.get("name")
        if isinstance(item_name, str) and item_name in seen:
            ctx.problem(
                f"{name}[{index}].name", f'duplicate name "{item_name}" (also {name}[{seen[item_name]}])'
            )
        elif isinstance(item_name, str):
            seen[item_name] = index
    return tuple(item for item in items if item is not None)


def _parse_notifier(ctx: ParseContext, prefix: str, raw: dict[str, Any]) -> NotifierConfig | None:
    kind = raw.get("type")
    type_fields = NOTIFIER_TYPE_FIELDS.get(kind) if isinstance(kind, str) else None
    if type_fields is None:
        # The bad or missing `type` is reported below; the other keys cannot be judged without it.
        raw = {key: value for key, value in raw.items() if key in NOTIFIER_FIELDS}
    fields = {**NOTIFIER_FIELDS, **(type_fields or {})}
    values, ok = parse_fields(ctx, prefix, raw, fields, what=f" for a {kind} notifier" if type_fields else "")
    if not ok:
        return None
    common = {key: values.pop(key) for key in NOTIFIER_FIELDS if key in values}
    if kind == "email" and values["smtp_port"] is None:
        values["smtp_port"] = SMTP_DEFAULT_PORTS[values["security"]]
    return NotifierConfig(**common, settings=FrozenMap(values))


def _parse_source(ctx: ParseContext, prefix: str, raw: dict[str, Any]) -> SourceConfig | None:
    values, ok = parse_fields(ctx, prefix, raw, SOURCE_FIELDS)
    return SourceConfig(**values) if ok else None
