"""Meta's callbacks to an app, as the simulator sends them: where each goes, and what came back.

Each app has its own Deauthorize callback URL and Data Deletion Request URL (`add_app(deauthorize_url=...,
data_deletion_url=...)`, as in its dashboard); a simulator-wide template applies to apps without one.
Templates take "{app}" (the Meta app id), "{platform}" and "{kind}" (deauthorize | data-deletion), so
`http://host/callbacks/{platform}/{app}/{kind}` serves every app of every platform. A Page token's callback
names the Page (`profile_id`, observed), any other token's its user (`user_id`). Every delivery is recorded,
with the answer (a data deletion callback answers `{"url", "confirmation_code"}`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from monitor.simulator.deauth import fill_url, post_signed, signed_request

DEAUTHORIZE, DATA_DELETION = "deauthorize", "data-deletion"
KINDS = (DEAUTHORIZE, DATA_DELETION)


class CallbackError(ValueError):
    """A callback that cannot be sent: no URL for it, or no app secret to sign it with."""


def subject_of(record: dict[str, Any]) -> tuple[str, str]:
    """(payload field, id) a callback about this token names: the Page of a Page token, else the user."""
    if record.get("type") == "PAGE" and record.get("profile_id"):
        return "profile_id", str(record["profile_id"])
    return "user_id", str(record["user_id"])


class Callbacks:
    """Where callbacks go (simulator-wide templates; an app's own URLs win) and a record of each sent."""

    def __init__(self, clock: Callable[[], float], timeout: float = 5.0) -> None:
        self.clock, self.timeout = clock, timeout
        self.templates: dict[str, str | None] = dict.fromkeys(KINDS)
        self._lock = threading.Lock()
        self._sent: list[dict[str, Any]] = []

    def target(self, kind: str, app: dict[str, Any]) -> str | None:
        """The URL a callback of `kind` about a token of `app` goes to, or None when none is set."""
        own = app.get("deauthorize_url" if kind == DEAUTHORIZE else "data_deletion_url")
        template = own or self.templates[kind]
        return fill_url(template, app["app_id"], app["platform"], kind) if template else None

    def ready(self, kind: str, app: dict[str, Any] | None) -> bool:
        """Whether a callback of `kind` can go out for `app`: a URL to send to and a secret to sign with."""
        return bool(app and app.get("app_secret") and self.target(kind, app))

    def send(self, kind: str, app: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        """POST the signed callback now and record it: {kind, platform, app_id, subject, id, url, status,
        answer (the JSON answer, else None)}. CallbackError when it cannot be sent."""
        url, secret = self.target(kind, app), app.get("app_secret")
        if not url or not secret:
            raise CallbackError(f"app {app['app_id']} has no {kind} URL or no app secret to sign with")
        field, subject = subject_of(record)
        signed = signed_request(subject, secret, int(self.clock()), subject=field)
        status, body = post_signed(url, signed, self.timeout)
        entry = {
            "kind": kind,
            "platform": app["platform"],
            "app_id": app["app_id"],
            "subject": field,
            "id": subject,
            "url": url,
            "status": status,
            "answer": _json_or_none(body),
        }
        with self._lock:
            self._sent.append(entry)
        return dict(entry)

    def send_aside(self, kind: str, app: dict[str, Any], record: dict[str, Any]) -> None:
        """send() on a thread of its own: returns at once, as Meta does not wait for anyone."""
        args = (kind, app, record)
        threading.Thread(target=self.send, args=args, name=f"sim-{kind}", daemon=True).start()

    def sent(self) -> list[dict[str, Any]]:
        """Every callback sent so far, oldest first (copies)."""
        with self._lock:
            return [dict(entry) for entry in self._sent]


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:  # not JSON (or not UTF-8): the record says None, the status says the rest
        return None
