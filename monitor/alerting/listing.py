"""The firing alerts as `alerts list` shows them: token, app, severity, since, last notified, muted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerting.mutes import read_mutes
from monitor.db.models import Alert
from monitor.notify.base import SEVERITY_RANK
from monitor.timefmt import iso_utc

__all__ = ["FiringAlert", "firing_alerts"]


@dataclass(frozen=True)
class FiringAlert:
    alertname: str
    subject: str  # the token's name, or app:NAME / source:NAME
    token: str | None
    app: str | None
    severity: str
    since: float
    last_notified_at: float | None  # None: no notifier has heard of it yet (it fired while muted)
    muted_until: float | None
    labels: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "subject": self.subject,
            "token": self.token,
            "app": self.app,
            "severity": self.severity,
            "since": iso_utc(self.since),
            "last_notified_at": iso_utc(self.last_notified_at) if self.last_notified_at else None,
            "muted": self.muted_until is not None,
            "muted_until": iso_utc(self.muted_until) if self.muted_until else None,
            "labels": self.labels,
        }


def firing_alerts(
    session: Session, now: float, *, app: str | None = None, token: str | None = None
) -> list[FiringAlert]:
    """The firing alerts (of one app, of one token), loudest and oldest first. Reads the firing alerts
    through the status index: they are as many as the troubles, not the tokens."""
    stmt = select(Alert).where(Alert.status == "firing")
    if token is not None:
        stmt = stmt.where(Alert.subject == token)
    mutes = read_mutes(session, now)
    out = []
    for a in session.scalars(stmt):
        labels = dict(a.labels or {})
        if app is not None and labels.get("app") != app:
            continue
        out.append(
            FiringAlert(
                a.alertname,
                a.subject,
                labels.get("token"),
                labels.get("app"),
                a.severity,
                a.started_at,
                a.last_notified_at if a.notified_severity is not None else None,
                mutes.of_alert(a.token_id, labels),
                labels,
            )  # fmt: skip
        )
    return sorted(out, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.since, f.alertname, f.subject))
