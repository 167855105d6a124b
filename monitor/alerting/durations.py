"""threads_monitor_notification_duration_seconds{notifier} (SPEC 17): how long each delivery attempt took,
sent or not, per notifier; a histogram on the registry the outbox is given."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["DELIVERY_BUCKETS", "DeliveryDurations"]

# A webhook answers in tens of milliseconds; SMTP with STARTTLS takes a second; a notifier's timeout (10 s by
# default, at most 300 s) bounds a dead one.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DeliveryDurations:
    """Times delivery attempts; every known notifier's histogram is there from the start (all zero)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.histogram = Histogram(
            "threads_monitor_notification_duration_seconds",
            "Duration of one delivery attempt to a notifier, whatever its outcome.",
            ["notifier"],
            buckets=DELIVERY_BUCKETS,
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def known(self, notifiers: Iterable[str]) -> None:
        for name in notifiers:
            self.histogram.labels(name)

    @contextmanager
    def attempt(self, notifier: str) -> Iterator[None]:
        """Observe the block's duration under `notifier`, whether it returns or raises."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.histogram.labels(notifier).observe(time.monotonic() - started)
