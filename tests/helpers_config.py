"""Shared by the config and docs tests: the example config file and a flattener of parsed TOML keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def flatten(table: dict[str, Any], prefix: str, leaves: set[str]) -> set[str]:
    """Dotted keys of parsed TOML; a key in `leaves` (a free-form table such as `match`) is not descended."""
    keys: set[str] = set()
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in leaves:
            keys |= flatten(value, f"{key}.", leaves)
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                keys |= flatten(item, f"{key}[].", leaves)
        else:
            keys.add(key)
    return keys
