"""TOML -> frozen dataclasses, validated as a whole (every problem at once, with its key path)."""

from monitor.config.load import config_keys, config_path, default_config, load_config, parse_config
from monitor.config.model import AlertsConfig, Config, ConfigError, NotifierConfig, SourceConfig, Thresholds

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "NotifierConfig",
    "SourceConfig",
    "Thresholds",
    "config_keys",
    "config_path",
    "default_config",
    "load_config",
    "parse_config",
]
