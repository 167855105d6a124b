"""Meta's `signed_request`: verified (pure: secret and `now` are arguments) and made, for tests and tools.

A deauthorize callback is a form POST with the field `signed_request=<sig>.<payload>`, both parts base64url
without padding; the payload is JSON `{"algorithm": "HMAC-SHA256", "issued_at": <unix>, "user_id": "<id>"}`
(a Page that removed the app is named by `profile_id` instead of `user_id`, observed) and `sig` the
HMAC-SHA256 of the payload part (its ASCII text) keyed with the app secret.

The signature is checked before anything in the payload is believed. A payload naming another algorithm is
refused as `bad_signature`: HMAC-SHA256 is the only signature accepted, so whatever signed it, it is not
signed in a way this code trusts (and it cannot be downgraded to a weaker one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

__all__ = [
    "ALGORITHM",
    "FORM_TYPE",
    "MAX_AGE",
    "MAX_BODY",
    "MAX_SKEW",
    "SUBJECTS",
    "Deauthorization",
    "Reason",
    "SignedRequestError",
    "parse_form_body",
    "sign_request",
    "named_id",
    "verify_callback",
    "verify_signed_request",
]

ALGORITHM = "HMAC-SHA256"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 8 * 1024
MAX_AGE = 24 * 3600  # seconds: an older callback is a replay, not news
MAX_SKEW = 10  # seconds an issued_at may lie ahead of our clock (both clocks NTP-kept, never identical)
FIELD = "signed_request"

Reason = Literal["bad_signature", "stale", "bad_request"]

_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_USER_ID = re.compile(r"[0-9]{1,64}")


class SignedRequestError(ValueError):
    """A callback to refuse. `reason` is the metric outcome; the message never quotes the request."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


SUBJECTS = ("user_id", "profile_id")  # what a payload may name: a user, or (a Page's callback) the Page


@dataclass(frozen=True)
class Deauthorization:
    """What a verified callback says: this user (or Page: `subject` is "profile_id") removed the app, lost
    the grant or asked for their data to be deleted, at `issued_at`. `user_id` is the id either way."""

    user_id: str
    issued_at: int
    subject: str = "user_id"


def parse_form_body(body: bytes, content_type: str | None) -> str:
    """The `signed_request` value of a form body of at most MAX_BODY bytes.

    Other fields are ignored (Meta sends only this one today; the signature covers what matters), but
    `signed_request` must be there exactly once. Raises SignedRequestError("bad_request") otherwise.
    """
    if len(body) > MAX_BODY:
        raise SignedRequestError("bad_request", "body too large")
    if (content_type or "").split(";", 1)[0].strip().lower() != FORM_TYPE:
        raise SignedRequestError("bad_request", "not a form body")
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=16
        )
    except (UnicodeDecodeError, ValueError):
        raise SignedRequestError("bad_request", "malformed form body") from None
    values = [value for name, value in pairs if name == FIELD]
    if len(values) != 1:
        raise SignedRequestError("bad_request", f"expected one {FIELD} field")
    return values[0]


def verify_signed_request(signed_request: str, secret: str, now: float) -> Deauthorization:
    """The deauthorization a `signed_request` carries, if `secret` signed it and it was issued within
    MAX_AGE before `now` (and at most MAX_SKEW after). Raises SignedRequestError for anything else."""
    sig_part, dot, payload_part = signed_request.partition(".")
    if not dot:
        raise SignedRequestError("bad_request", "no '.' between signature and payload")
    signature, payload = _b64decode(sig_part), _b64decode(payload_part)
    expected = hmac.new(secret.encode("utf-8"), payload_part.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise SignedRequestError("bad_signature", "signature does not match")
    data = _json_object(payload)
    if str(data.get("algorithm", "")).upper() != ALGORITHM:
        raise SignedRequestError("bad_signature", f"algorithm is not {ALGORITHM}")
    issued_at = data.get("issued_at")
    if type(issued_at) is not int:  # bool is an int; a float is not a Unix second
        raise SignedRequestError("bad_request", "issued_at is not an integer")
    if not now - MAX_AGE <= issued_at <= now + MAX_SKEW:
        raise SignedRequestError("stale", "issued_at is too old or in the future")
    subject = "user_id" if data.get("user_id") is not None else "profile_id"
    return Deauthorization(_user_id(data.get(subject)), issued_at, subject)


def verify_callback(body: bytes, content_type: str | None, secret: str, now: float) -> Deauthorization:
    """parse_form_body, then verify_signed_request."""
    return verify_signed_request(parse_form_body(body, content_type), secret, now)


def named_id(signed_request: str) -> str | None:
    """The id (user_id, else profile_id) a `signed_request` payload names, NOT verified: for finding stored
    copies of callbacks already verified (a relayed body), never for believing one. None if unreadable."""
    try:
        data = _json_object(_b64decode(signed_request.partition(".")[2]))
        return _user_id(data.get("user_id") if data.get("user_id") is not None else data.get("profile_id"))
    except SignedRequestError:
        return None


def sign_request(
    user_id: str, issued_at: int, secret: str, *, algorithm: str = ALGORITHM, subject: str = "user_id"
) -> str:
    """A `signed_request` as Meta makes it (for tests, the simulator and tools); `subject` is the payload
    field naming the id (profile_id: a Page's callback)."""
    payload = json.dumps({"algorithm": algorithm, "issued_at": issued_at, subject: user_id}).encode()
    payload_part = _b64encode(payload)
    signature = hmac.new(secret.encode("utf-8"), payload_part.encode("ascii"), hashlib.sha256).digest()
    return f"{_b64encode(signature)}.{payload_part}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str) -> bytes:
    """base64url, padding optional; other characters and non-canonical encodings are refused."""
    if not _B64URL.fullmatch(part):
        raise SignedRequestError("bad_request", "not base64url")
    bare = part.rstrip("=")
    if len(bare) % 4 == 1 or (bare != part and len(part) % 4):
        raise SignedRequestError("bad_request", "not base64url")
    try:
        data = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise SignedRequestError("bad_request", "not base64url") from None
    if _b64encode(data) != bare:  # stray low bits: one payload must have one spelling
        raise SignedRequestError("bad_request", "not canonical base64url")
    return data


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SignedRequestError("bad_request", "payload is not JSON") from None
    if not isinstance(data, dict):
        raise SignedRequestError("bad_request", "payload is not a JSON object")
    return data


def _user_id(value: object) -> str:
    if type(value) is int and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        raise SignedRequestError("bad_request", "user_id (or profile_id) is not a string of digits")
    return value
