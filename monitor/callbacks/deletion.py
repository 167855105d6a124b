"""Meta's data deletion request callback, the monitor's side (SPEC 16): codes, records, and what names a user.

A verified request deletes what the monitor holds about its user (monitor.registry.erase_user, composed by
the daemon) and is recorded as a `deletions` row: an unguessable confirmation code, the app and platform,
when, and the counts of rows deleted. The row never holds the user's id: `request_key` is an HMAC of the
request keyed with the app secret, so the same request (a replay) finds its row and answers the same code,
while the row itself says nothing of whom it was about.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.callbacks.signed import Deauthorization, SignedRequestError, named_id, parse_form_body
from monitor.db.models import Deletion

__all__ = [
    "CODE_LENGTH",
    "CODE_RE",
    "DeletionRecord",
    "find_by_code",
    "find_by_key",
    "mentions_user",
    "new_code",
    "request_key",
    "status_url",
    "store_deletion",
    "user_key",
    "was_erased",
]

CODE_LENGTH = 32  # alphanumeric (Meta asks for one), about 190 bits: never guessed, never enumerated
CODE_RE = re.compile(r"[A-Za-z0-9]{16,64}")  # what GET /deletion/<code> looks up at all
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class DeletionRecord:
    """A data deletion request done: what its status page shows, and what its answer repeats."""

    code: str
    app: str
    platform: str
    done_at: float
    counts: dict[str, int]

    @classmethod
    def from_row(cls, row: Deletion) -> DeletionRecord:
        return cls(row.code, row.app, row.platform, row.done_at, dict(row.counts or {}))


def new_code() -> str:
    """A fresh confirmation code: CODE_LENGTH letters and digits from the system's CSPRNG."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def request_key(secret: str, app: str, platform: str, verified: Deauthorization) -> str:
    """What identifies one request without naming its user: HMAC-SHA256 (keyed with the app secret) of the
    app, platform, subject, id and issued_at. A replay gives the same key; nobody without the secret can
    tell whose it is, even trying every id."""
    message = f"data-deletion|{app}|{platform}|{verified.subject}|{verified.user_id}|{verified.issued_at}"
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def user_key(secret: str, app: str, user_id: str) -> str:
    """What recognises a user erased at their request without naming them: HMAC-SHA256 (keyed with the app
    secret) of the app and the id (user or Page)."""
    message = f"erased-user|{app}|{user_id}"
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def was_erased(session: Session, key: str) -> bool:
    """Whether a data deletion request erased the user whose `user_key` is `key`."""
    return session.scalar(select(Deletion.id).where(Deletion.user_key == key).limit(1)) is not None


def status_url(public_url: str, code: str) -> str:
    """Where a person reads the status of their request (the `url` of the answer)."""
    return f"{public_url.rstrip('/')}/deletion/{code}"


def find_by_key(session: Session, key: str) -> DeletionRecord | None:
    row = session.scalar(select(Deletion).where(Deletion.request_key == key))
    return None if row is None else DeletionRecord.from_row(row)


def find_by_code(session: Session, code: str) -> DeletionRecord | None:
    """The record of `code`, or None (a code of the wrong shape is not even looked up)."""
    if not CODE_RE.fullmatch(code):
        return None
    row = session.scalar(select(Deletion).where(Deletion.code == code))
    return None if row is None else DeletionRecord.from_row(row)


def store_deletion(
    session: Session,
    key: str,
    app: str,
    platform: str,
    now: float,
    counts: dict[str, int],
    erased: str | None = None,
) -> DeletionRecord:
    """Record a request done under a fresh code (a racing copy of it fails on the unique key at commit)."""
    record = DeletionRecord(new_code(), app, platform, now, dict(counts))
    session.add(
        Deletion(
            code=record.code,
            request_key=key,
            user_key=erased,
            app=app,
            platform=platform,
            done_at=now,
            counts=record.counts,
        )
    )
    return record


def mentions_user(user_id: str) -> Callable[[str], bool]:
    """Whether a stored text (an alert event, an outbox message) names `user_id`: the id as a whole number
    in its text, or a relayed callback body whose signed_request names it (the body is stored encoded)."""
    whole = re.compile(rf"(?<![0-9]){re.escape(user_id)}(?![0-9])")

    def mentions(text: str) -> bool:
        return bool(whole.search(text)) or user_id in _relayed_ids(text)

    return mentions


def _relayed_ids(text: str) -> set[str]:
    """The ids named by the callback bodies an outbox message relays (none for any other message)."""
    try:
        data = json.loads(text)
    except ValueError:
        return set()
    alerts = data.get("alerts") if isinstance(data, dict) else None
    found: set[str] = set()
    for event in alerts if isinstance(alerts, list) else []:
        labels: Any = event.get("labels") if isinstance(event, dict) else None
        if isinstance(labels, dict) and event.get("kind") == "relay":
            named = _body_id(labels.get("body"), labels.get("content_type"))
            found |= {named} if named else set()
    return found


def _body_id(encoded: object, content_type: object) -> str | None:
    if not isinstance(encoded, str):
        return None
    try:
        body = base64.b64decode(encoded, validate=True)
        return named_id(parse_form_body(body, str(content_type or "")))
    except (binascii.Error, ValueError, SignedRequestError):
        return None
