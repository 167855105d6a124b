"""Prometheus metrics (SPEC section 6): the token collector over the stored state, plus event counters.

`build_metrics` makes a fresh `CollectorRegistry` per daemon (never the process-global one), so tests and
several daemons in one process never share series. Event methods are called from worker threads;
prometheus_client's metric objects are thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.callbacks import KINDS, OUTCOMES
from monitor.graph.results import ApiUsage
from monitor.metrics.cache import ExpositionCache
from monitor.metrics.collector import TokenCollector
from monitor.metrics.inputs import MetricsInputs, MetricsSettings
from monitor.metrics.runtime import register_runtime

__all__ = ["CHECK_BUCKETS", "Events", "MetricsInputs", "MetricsRegistry", "MetricsSettings", "TokenCollector"]
__all__ += ["build_metrics"]

CHECK_RESULTS = ("valid", "invalid", "error")
REFRESH_OUTCOMES = ("refreshed", "failed")
NOTIFICATION_OUTCOMES = ("sent", "failed", "dropped")
# One debug_token call takes tens of milliseconds; retries with backoff and timeouts reach tens of seconds.
CHECK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
USAGE_HEADERS = (("x-app-usage", "app"), ("x-business-use-case-usage", "business"))


class Events:
    """Counters, a histogram and gauges for what the daemon does; registered in the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.checks = Counter(
            "threads_monitor_checks",
            "Token checks by result (throttled and inspector problems count as error).",
            ["result"],
            registry=registry,
        )
        self.check_duration = Histogram(
            "threads_monitor_check_duration_seconds",
            "Duration of one token check, retries included.",
            buckets=CHECK_BUCKETS,
            registry=registry,
        )
        self.api_requests = Counter(
            "threads_monitor_api_requests",
            "Threads API requests by endpoint and HTTP status code.",
            ["endpoint", "code"],
            registry=registry,
        )
        self.api_usage = Gauge(
            "threads_monitor_api_usage_percent",
            "Last usage percentage reported by the API's rate-limit headers.",
            ["header", "metric"],
            registry=registry,
        )
        self.notifications = Counter(
            "threads_monitor_notifications",
            "Notification deliveries by notifier and outcome.",
            ["notifier", "outcome"],
            registry=registry,
        )
        self.refreshes = Counter(
            "threads_monitor_refreshes",
            "Automatic token refreshes by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.source_syncs = Counter(
            "threads_monitor_source_sync",
            "Source synchronisations by source and outcome.",
            ["source", "outcome"],
            registry=registry,
        )
        self.callbacks = Counter(
            "threads_monitor_callbacks",
            "Deauthorize and data deletion callbacks and recheck requests by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.registry_requests = Counter(
            "threads_monitor_registry_requests",
            "Registry API requests (monitor.api) by operation and outcome; refusals by why.",
            ["operation", "outcome"],
            registry=registry,
        )
        # Known label values start at 0 so rate() and increase() work from the first scrape.
        for result in CHECK_RESULTS:
            self.checks.labels(result)
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)
        for kind in KINDS:
            for answer in OUTCOMES:
                self.callbacks.labels(kind, answer)

    def check(self, result: str, duration: float) -> None:
        """One finished check; `result` is a Verdict value (throttled/inspector/error count as error)."""
        self.checks.labels(result if result in CHECK_RESULTS else "error").inc()
        self.check_duration.observe(max(0.0, duration))

    def api(self, endpoint: str, code: str, usage: ApiUsage | None) -> None:
        """One HTTP answer from the Threads API (or code "error" for a transport failure)."""
        self.api_requests.labels(endpoint, code).inc()
        if usage is None:
            return
        for header, attr in USAGE_HEADERS:
            for metric, percent in getattr(usage, attr).items():
                self.api_usage.labels(header, metric).set(percent)

    def notification(self, notifier: str, outcome: str) -> None:
        self.notifications.labels(notifier, outcome).inc()

    def notifier_known(self, notifier: str) -> None:
        """Start a notifier's counters at 0 (optional: called when notifiers are configured)."""
        for outcome in NOTIFICATION_OUTCOMES:
            self.notifications.labels(notifier, outcome)

    def refresh(self, outcome: str) -> None:
        self.refreshes.labels(outcome).inc()

    def source_sync(self, source: str, outcome: str) -> None:
        self.source_syncs.labels(source, outcome).inc()

    def registry_known(self, operations: Iterable[str], outcomes: Iterable[str]) -> None:
        """Start the registry API's counters at 0 (called when the API is served)."""
        for operation in operations:
            for outcome in outcomes:
                self.registry_requests.labels(operation, outcome)

    def registry_request(self, operation: str, outcome: str) -> None:
        """One registry API request (monitor.api), served or refused (`outcome` says why)."""
        self.registry_requests.labels(operation, outcome).inc()

    def callback(self, kind: str, outcome: str) -> None:
        """One deauthorize or data deletion callback or recheck request, accepted or refused (`outcome`
        says why)."""
        self.callbacks.labels(kind, outcome).inc()


class MetricsRegistry(CollectorRegistry):
    """Every series, collected fresh (`generate_latest`, `get_sample_value`), and `render` for /metrics.

    `render` serves the token collector's part from an `ExpositionCache` and renders `live` (event
    counters, build info) on every call.
    """

    def __init__(self, inputs: MetricsInputs) -> None:
        super().__init__()
        self.live = CollectorRegistry()
        self.cache = ExpositionCache(inputs, self.live)
        self.register(self.cache.collector)
        self.register(self.live)  # a registry is a collector: its families follow the token ones
        self.scrapes = Counter(
            "threads_monitor_scrapes",
            "Expositions served on /metrics by content encoding (gzip when the scraper accepts it).",
            ["encoding"],
            registry=self.live,
        )
        for encoding in ("gzip", "identity"):
            self.scrapes.labels(encoding)

    def render(self, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        """The exposition body in the text format, or OpenMetrics; gzip-compressed when asked."""
        self.scrapes.labels("gzip" if gzipped else "identity").inc()
        return self.cache.render(openmetrics, gzipped)


def build_metrics(
    inputs: MetricsInputs, version: str, registry: CollectorRegistry | None = None
) -> tuple[CollectorRegistry, Events]:
    """A registry holding the token collector, the event metrics, `threads_monitor_build_info` and the
    process_* and python_* series.

    Without a `registry` argument it is a `MetricsRegistry` (cached scrapes); a given registry gets
    every collector directly and is rendered fresh on every scrape.
    """
    if registry is None:
        registry = MetricsRegistry(inputs)
        live = registry.live
    else:
        registry.register(TokenCollector(inputs))
        live = registry
    events = Events(live)
    for name in inputs.settings.notifiers:
        events.notifier_known(name)
    register_runtime(live, version)
    return registry, events
