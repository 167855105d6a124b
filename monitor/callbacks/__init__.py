"""Revocations seen in seconds (SPEC section 11): Meta's deauthorize callback and the recheck API.

`signed` verifies Meta's `signed_request` (pure); `server` is the [callbacks] listener built on
monitor.httpd, taking what it acts on as plain callables.
"""

from monitor.callbacks.server import (
    DEAUTHORIZE_PATH,
    KINDS,
    OUTCOMES,
    RECHECK_PATH,
    CallbackServer,
    Kind,
    Outcome,
    RecheckError,
    RecheckRequest,
    parse_recheck,
)
from monitor.callbacks.signed import (
    Deauthorization,
    SignedRequestError,
    parse_form_body,
    sign_request,
    verify_callback,
    verify_signed_request,
)

__all__ = [
    "DEAUTHORIZE_PATH",
    "KINDS",
    "OUTCOMES",
    "RECHECK_PATH",
    "CallbackServer",
    "Deauthorization",
    "Kind",
    "Outcome",
    "RecheckError",
    "RecheckRequest",
    "SignedRequestError",
    "parse_form_body",
    "parse_recheck",
    "sign_request",
    "verify_callback",
    "verify_signed_request",
]
