"""What the sweep reads of the configuration, as one frozen value (`Sweeper.reload` takes it)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.check.observe import Cadence
from monitor.config.model import Config
from monitor.state import Horizons

__all__ = ["SweepSettings"]


@dataclass(frozen=True)
class SweepSettings:
    """The check cadence and lease of [schedule], and the alert thresholds (check.outcome.quiet_first;
    None: every change stamps updated_at)."""

    cadence: Cadence
    lease: float = 300.0
    horizons: Horizons | None = None

    @classmethod
    def of(cls, config: Config) -> SweepSettings:
        s = config.schedule
        cadence = Cadence(
            min_interval=s.min_check_interval, max_interval=s.max_check_interval, jitter=s.jitter
        )
        return cls(cadence, s.lease, Horizons.from_alerts(config.alerts))
