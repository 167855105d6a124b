"""Alerts: the pure ladder and rules, evaluation and grouping, and the durable outbox."""

from monitor.alerting.job import AlertsComponent, AlertSettings, evaluate
from monitor.alerting.outbox import Outbox, build_notifiers

__all__ = ["AlertSettings", "AlertsComponent", "Outbox", "build_notifiers", "evaluate"]
