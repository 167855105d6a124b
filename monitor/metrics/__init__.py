"""Prometheus exposition: per-token series from stored state, fleet counts, event counters."""

from monitor.metrics.exposition import Events, MetricsRegistry, build_metrics

__all__ = ["Events", "MetricsRegistry", "build_metrics"]
