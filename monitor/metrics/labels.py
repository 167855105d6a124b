"""threads_token_labels (SPEC 17): registry labels as Prometheus labels, the kube-state-metrics way.

Only the keys `[metrics] labels` allows are exported (none by default: cardinality is the operator's
choice), each as `label_KEY`, on one series per token (value 1) beside `token` and `app`, so a rule can join
them (`* on (token, app) group_left (label_team) threads_token_labels`) and Alertmanager can route on them.
A token lacking a key has no such label on its series. The tokens are those that get per-token series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from sqlalchemy import ColumnElement, Connection, select

from monitor.db.models import App, Token

__all__ = ["TokenLabels", "labels_family", "read_labels"]

TokenLabels = tuple[str, str, dict[str, str]]  # token, app, {"label_KEY": value}


def exported(labels: Mapping[str, Any] | None, keys: Sequence[str]) -> dict[str, str]:
    """The allowed keys a token's labels hold, as label_KEY -> value."""
    if not labels:
        return {}
    return {f"label_{key}": str(labels[key]) for key in keys if labels.get(key) is not None}


def read_labels(
    conn: Connection, keys: Sequence[str], where: ColumnElement[bool] | None
) -> list[TokenLabels]:
    """(token, app, labels) of the tokens `where` selects (every token when None); nothing without keys."""
    if not keys:
        return []
    stmt = select(Token.name, App.name, Token.labels).join(App, Token.app_id == App.id)
    if where is not None:
        stmt = stmt.where(where)
    return [(str(token), str(app), exported(labels, keys)) for token, app, labels in conn.execute(stmt)]


def labels_family(rows: Sequence[TokenLabels]) -> Metric:
    family = GaugeMetricFamily(
        "threads_token_labels",
        "Registry labels allowed by [metrics] labels, as label_KEY (always 1).",
        labels=["token", "app"],
    )
    for token, app, labels in rows:
        family.samples.append(Sample(family.name, {"token": token, "app": app, **labels}, 1.0))
    return family
