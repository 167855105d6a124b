"""The simulator's side of Meta's signed callbacks: a `signed_request` made and POSTed as Meta does.

Meta signs with the app secret: `signed_request=<sig>.<payload>`, both base64url without padding, `sig` the
HMAC-SHA256 of the payload part. The deauthorize callback and the data deletion request callback carry the
same form; the payload names the user (`user_id`), or the Page for a Page that removed the app (`profile_id`,
observed). Written here from the format (the simulator sits below monitor.callbacks, whose verifier tests
check against this one), with the standard library only.
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

__all__ = ["fill_url", "post_deauthorize", "post_signed", "signed_request"]

log = logging.getLogger("monitor.simulator")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_ANSWER = 64 * 1024  # what the simulator reads of a callback's answer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_request(user_id: str, secret: str, issued_at: int, *, subject: str = "user_id") -> str:
    """What Meta sends about `user_id` (the payload field `subject` names it), signed with the app
    `secret`."""
    payload = {"algorithm": "HMAC-SHA256", "issued_at": issued_at, subject: user_id}
    payload_part = _b64(json.dumps(payload).encode("utf-8"))
    sig = hmac.new(secret.encode("utf-8"), payload_part.encode("ascii"), hashlib.sha256).digest()
    return f"{_b64(sig)}.{payload_part}"


def fill_url(template: str, app_id: str, platform: str = "threads", kind: str = "deauthorize") -> str:
    """A callback URL from a template: "{app}", "{platform}" and "{kind}" become the app id, its platform
    and the callback's kind (deauthorize | data-deletion)."""
    return (
        template.replace("{app}", quote(app_id, safe=""))
        .replace("{platform}", quote(platform, safe=""))
        .replace("{kind}", quote(kind, safe=""))
    )


def post_signed(url: str, signed: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """POST `signed_request=<signed>` as a form to `url`: (HTTP status, at most MAX_ANSWER bytes of the
    answer), status 0 when nothing answered. Never raises: a simulated Meta does not care who listens."""
    body = urlencode({"signed_request": signed}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": FORM_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - a configured URL
            return int(answer.status), answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read(MAX_ANSWER)
    except (OSError, ValueError) as exc:
        log.warning("callback to %s not delivered: %s", url, type(exc).__name__)
        return 0, b""


def post_deauthorize(url_template: str, app_id: str, user_id: str, secret: str, timeout: float = 5.0) -> int:
    """POST a signed deauthorize callback to `url_template` ("{app}" becomes `app_id`); the HTTP status, or
    0 when nothing answered."""
    signed = signed_request(user_id, secret, int(time.time()))
    return post_signed(fill_url(url_template, app_id), signed, timeout)[0]
