"""What the refresh component reads of the configuration, as one frozen value (`Refresher.reload`)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config.model import Config, RefreshConfig

__all__ = ["RefreshSettings"]


@dataclass(frozen=True)
class RefreshSettings:
    """[refresh]; the lease and tick of [schedule]; the API client's retries and concurrency; the names of
    the sources that take refreshed strings back (`on_refresh`)."""

    refresh: RefreshConfig = RefreshConfig()
    lease: float = 300.0
    sweep_interval: float = 60.0
    retries: int = 2
    concurrency: int = 8
    writeback_sources: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: Config) -> RefreshSettings:
        return cls(
            refresh=config.refresh,
            lease=config.schedule.lease,
            sweep_interval=config.schedule.sweep_interval,
            retries=config.threads.retries,
            concurrency=config.threads.concurrency,
            writeback_sources=frozenset(s.name for s in config.sources if s.on_refresh),
        )
