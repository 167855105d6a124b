"""The token collector (SPEC 6): reads the stored state through `MetricsInputs` on every scrape, keeps none.

The queries and the families it builds live in monitor.metrics.tokens; this is the object the registry holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from monitor.metrics.inputs import MetricsInputs
from monitor.metrics.series import token_families
from monitor.metrics.tokens import PER_TOKEN_MODES, Stored, duration_family, fleet_families, read_stored

__all__ = ["TokenCollector"]


class TokenCollector(Collector):
    """Yields SPEC section 6's token and fleet series from the database, under the settings in force."""

    def __init__(self, inputs: MetricsInputs) -> None:
        self.inputs = inputs

    def collect(self) -> Iterator[Metric]:
        stored, seconds = self.read()
        scopes = self.inputs.settings.metrics.scopes
        families = token_families(stored.rows, scopes=scopes) if stored.rows else []
        families.extend(fleet_families(stored))
        families.append(duration_family(seconds))
        yield from families

    def read(self) -> tuple[Stored, float]:
        """What `collect` reads, and how long the read took (the cached render builds its own text)."""
        started = time.perf_counter()
        cfg = self.inputs.settings.metrics
        mode = cfg.per_token if cfg.per_token in PER_TOKEN_MODES else "all"
        with self.inputs.engine.connect() as conn:
            stored = read_stored(conn, mode, self.inputs.horizons, self.inputs.now(), cfg.labels)
        return stored, time.perf_counter() - started
