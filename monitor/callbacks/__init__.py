"""Revocations seen in seconds (SPEC section 11): Meta's deauthorize callback and the recheck API; and
Meta's data deletion request callback with its status pages (SPEC 16).

`signed` verifies Meta's `signed_request` (pure); `server` is the [callbacks] listener built on
monitor.httpd, taking what it acts on as plain callables; `deletion` holds the data deletion records and
`deletion_http` their door.
"""

from monitor.callbacks.deletion import (
    DeletionRecord,
    find_by_code,
    find_by_key,
    mentions_user,
    request_key,
    status_url,
    store_deletion,
    user_key,
    was_erased,
)
from monitor.callbacks.deletion_http import DATA_DELETION_PATH, STATUS_PATH, DeletionHooks
from monitor.callbacks.recheck import RecheckError, RecheckRequest, parse_recheck
from monitor.callbacks.server import (
    DEAUTHORIZE_PATH,
    KINDS,
    OUTCOMES,
    PLATFORM_DEAUTHORIZE_PATH,
    PLATFORMS,
    RECHECK_PATH,
    CallbackServer,
    Kind,
    Outcome,
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
    "DATA_DELETION_PATH",
    "DEAUTHORIZE_PATH",
    "KINDS",
    "OUTCOMES",
    "PLATFORMS",
    "PLATFORM_DEAUTHORIZE_PATH",
    "RECHECK_PATH",
    "STATUS_PATH",
    "CallbackServer",
    "Deauthorization",
    "DeletionHooks",
    "DeletionRecord",
    "Kind",
    "Outcome",
    "RecheckError",
    "RecheckRequest",
    "SignedRequestError",
    "find_by_code",
    "find_by_key",
    "mentions_user",
    "parse_form_body",
    "parse_recheck",
    "request_key",
    "sign_request",
    "status_url",
    "store_deletion",
    "user_key",
    "was_erased",
    "verify_callback",
    "verify_signed_request",
]
