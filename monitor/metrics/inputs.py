"""What the token metrics read: the engine, the clock and their own settings (replaced by `reload`).

The collector and the cached exposition hold one `MetricsInputs`, built by whoever owns the engine (the
daemon, a command, a test); a SIGHUP reload hands it a new `MetricsSettings`, and the next scrape follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from monitor.config.model import Config, MetricsConfig
from monitor.state import Horizons

__all__ = ["MetricsInputs", "MetricsSettings"]


@dataclass(frozen=True)
class MetricsSettings:
    """[metrics] (which per-token series, scopes or not), the alert thresholds (a token's state) and the
    notifier names (their delivery counters start at zero)."""

    metrics: MetricsConfig = MetricsConfig()
    horizons: Horizons = Horizons()
    notifiers: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> MetricsSettings:
        names = tuple(n.name for n in config.notifiers)
        return cls(config.metrics, Horizons.from_alerts(config.alerts), names)


class MetricsInputs:
    """The engine the token series are read from, the clock, and the settings in force."""

    def __init__(
        self, engine: Engine, settings: MetricsSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock

    def reload(self, settings: MetricsSettings) -> None:
        """New settings apply from the next scrape (the cached exposition notices: they are in its key)."""
        self.settings = settings

    @property
    def horizons(self) -> Horizons:
        return self.settings.horizons

    def now(self) -> float:
        return self.clock()
