"""Prometheus metrics (SPEC section 6): the token collector over the stored state, plus event counters.

`build_metrics` makes a fresh `CollectorRegistry` per daemon (never the process-global one), so tests and
several daemons in one process never share series. Event methods are called from worker threads;
prometheus_client's metric objects are thread-safe.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.context import Context
from monitor.graph.results import ApiUsage
from monitor.metrics.tokens import TokenCollector

__all__ = ["CHECK_BUCKETS", "Events", "TokenCollector", "build_metrics"]

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
        # Known label values start at 0 so rate() and increase() work from the first scrape.
        for result in CHECK_RESULTS:
            self.checks.labels(result)
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)

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


def build_metrics(
    ctx: Context, version: str, registry: CollectorRegistry | None = None
) -> tuple[CollectorRegistry, Events]:
    """A registry holding the token collector, the event metrics and `threads_monitor_build_info`."""
    registry = registry if registry is not None else CollectorRegistry()
    registry.register(TokenCollector(ctx))
    events = Events(registry)
    for notifier in ctx.config.notifiers:
        events.notifier_known(notifier.name)
    build = Gauge(
        "threads_monitor_build_info", "The running version (always 1).", ["version"], registry=registry
    )
    build.labels(version).set(1)
    return registry, events
