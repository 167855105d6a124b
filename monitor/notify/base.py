"""What every notifier shares: the alert and message types, the one error type, HTTP classification."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from monitor.redact import redact
from monitor.retry import retry_after_header

SEVERITY_RANK: Mapping[str, int] = {"warning": 1, "critical": 2}


class NotifierSettings(Protocol):
    """The fields of config.py's `NotifierConfig`; read-only so a frozen dataclass satisfies it."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def min_severity(self) -> str: ...
    @property
    def match(self) -> Mapping[str, str]: ...
    @property
    def send_resolved(self) -> bool: ...
    @property
    def timeout(self) -> float: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class AlertEvent:
    """One alert at one step of its ladder (fire, escalate, repeat, resolve), as notifiers see it."""

    alertname: str
    status: str  # "firing" | "resolved"
    severity: str  # "warning" | "critical"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    fingerprint: str
    at: float | None = None  # when the thing happens (expiry), for "expires in ..."
    kind: str = "fire"  # fire | escalate | repeat | resolve | test
    reason: str | None = None  # why a resolved alert ended: "valid again", "replaced", "removed", ...

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = dict(self.labels)
        data["annotations"] = dict(self.annotations)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEvent:
        return cls(
            alertname=data["alertname"],
            status=data["status"],
            severity=data["severity"],
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
            starts_at=float(data["starts_at"]),
            ends_at=None if data["ends_at"] is None else float(data["ends_at"]),
            fingerprint=data["fingerprint"],
            at=None if data.get("at") is None else float(data["at"]),
            kind=data.get("kind", "fire"),
            reason=data.get("reason"),
        )


@dataclass(frozen=True)
class Message:
    """One notification for one notifier: a group of alerts delivered together, retried under one id."""

    delivery_id: str  # uuid4, identical on every retry
    notifier: str
    group_key: str
    alerts: tuple[AlertEvent, ...]
    created_at: float
    external_url: str = ""

    def status(self) -> str:
        """ "firing" if any alert in the group is firing, else "resolved"."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    def to_json(self) -> str:
        """Serialise for the durable outbox; `from_json(to_json())` gives an equal Message."""
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "notifier": self.notifier,
                "group_key": self.group_key,
                "alerts": [a.to_dict() for a in self.alerts],
                "created_at": self.created_at,
                "external_url": self.external_url,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, s: str) -> Message:
        data = json.loads(s)
        return cls(
            delivery_id=data["delivery_id"],
            notifier=data["notifier"],
            group_key=data["group_key"],
            alerts=tuple(AlertEvent.from_dict(a) for a in data["alerts"]),
            created_at=float(data["created_at"]),
            external_url=data.get("external_url", ""),
        )


class NotifyError(Exception):
    """A delivery attempt failed. `permanent` means retrying cannot help; `retry_after` is a server hint."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class Notifier(ABC):
    """One notification channel. `send` makes exactly one attempt; the outbox owns retries and backoff."""

    type: ClassVar[str]
    # True: the outbox also delivers rows of channels "NAME/..." through this notifier (the relay has one
    # channel per app, so one app's backlog never delays another's); counted under NAME.
    channels: ClassVar[bool] = False

    def __init__(self, config: NotifierSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.name = config.name
        # The clock phrases "expires in ..." at send time, so a delayed retry does not state stale news.
        self.clock = clock

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver `message` once or raise NotifyError."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not every channel holds a connection
        """Release connections; the notifier is not used afterwards."""

    def setting(self, key: str) -> Any:
        """A required type-specific setting; config.py validated it, so absence is a programming error."""
        value = self.config.settings.get(key)
        if value is None or value == "":
            raise ValueError(f"notifier {self.name!r} ({self.type}): setting {key!r} is required")
        return value

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        """The values of a notifier's `settings` that must never appear in an error message or log line,
        in the forms it sends them (monitor.redact works out their encodings)."""
        return []

    def secrets(self) -> list[str]:
        return self.secrets_of(self.config.settings)

    def redact(self, text: str) -> str:
        """`text` without any of this notifier's secrets (monitor.redact: whole, encoded or cut short)."""
        return redact(text, self.secrets())


def _retry_after_from_body(body_snippet: str) -> float | None:
    # Slack (and Discord-style APIs) may put the hint in a JSON body instead of, or as well as, the header.
    try:
        data = json.loads(body_snippet)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
        return max(0.0, float(data["retry_after"]))
    return None


def classify_http(
    status: int, headers: Mapping[str, str], body_snippet: str, *, now: float | None = None
) -> None:
    """Return for 2xx; otherwise raise NotifyError: 429 (with retry_after), 408 and 5xx are transient,
    anything else (other 4xx, unfollowed 3xx) is permanent."""
    if 200 <= status < 300:
        return
    snippet = " ".join(body_snippet.split())[:200]
    text = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 429:
        retry_after = retry_after_header(headers, time.time() if now is None else now)
        if retry_after is None:
            retry_after = _retry_after_from_body(body_snippet)
        raise NotifyError(text, retry_after=retry_after)
    if status == 408 or status >= 500:
        raise NotifyError(text, retry_after=retry_after_header(headers, time.time() if now is None else now))
    raise NotifyError(text, permanent=True)
