"""The simulator's side of Meta's deauthorize callback: a `signed_request` made and POSTed as Meta does.

Meta signs with the app secret: `signed_request=<sig>.<payload>`, both base64url without padding, `sig` the
HMAC-SHA256 of the payload part. Written here from the format (the simulator sits below monitor.callbacks,
whose verifier tests check against this one), with the standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

__all__ = ["post_deauthorize", "signed_request"]

log = logging.getLogger("monitor.simulator")

FORM_TYPE = "application/x-www-form-urlencoded"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_request(user_id: str, secret: str, issued_at: int) -> str:
    """What Meta sends for `user_id`, signed with the app `secret`."""
    payload = {"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user_id}
    payload_part = _b64(json.dumps(payload).encode("utf-8"))
    sig = hmac.new(secret.encode("utf-8"), payload_part.encode("ascii"), hashlib.sha256).digest()
    return f"{_b64(sig)}.{payload_part}"


def post_deauthorize(url_template: str, app_id: str, user_id: str, secret: str, timeout: float = 5.0) -> int:
    """POST a signed deauthorize callback to `url_template` ("{app}" becomes `app_id`); the HTTP status, or
    0 when nothing answered. Never raises: a simulated Meta does not care whether anyone listens."""
    body = urlencode({"signed_request": signed_request(user_id, secret, int(time.time()))}).encode()
    url = url_template.replace("{app}", quote(app_id, safe=""))
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": FORM_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - a configured URL
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError) as exc:
        log.warning("deauthorize callback to %s not delivered: %s", url, type(exc).__name__)
        return 0
