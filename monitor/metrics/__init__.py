"""Prometheus exposition: per-token series from stored state, fleet counts, event counters."""

from monitor.metrics.exposition import Events, MetricsRegistry, build_metrics
from monitor.metrics.inputs import MetricsInputs, MetricsSettings

__all__ = ["Events", "MetricsInputs", "MetricsRegistry", "MetricsSettings", "build_metrics"]
