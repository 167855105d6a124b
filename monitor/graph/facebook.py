"""Facebook (graph.facebook.com): debug_token with an app token `APP_ID|APP_SECRET` (a system-user token
cannot inspect itself), and renewal by kind:

- SYSTEM_USER with an expiry: `fb_exchange_token` with `set_token_expires_in_60_days=true` and the app secret
  gives a new 60-day string. (One that never expires has no expiry and is never renewed: exchanging it
  would make a permanent token a 60-day one.)
- USER (long-lived): no server can extend it; the person must log in again before the expiry.
- PAGE, APP and anything else: never renewed (a Page token from a long-lived user token never expires).
"""

from __future__ import annotations

from dataclasses import replace

from monitor.graph.base import AppKeys, Calls, Platform, Renewal, not_renewable
from monitor.graph.results import RefreshResult, Verdict, refresh_result
from monitor.graph.wire import FROM_EXCHANGE

KINDS = {"SYSTEM_USER": Renewal.EXCHANGE, "USER": Renewal.REAUTHORIZE}


class Facebook(Platform):
    name = "facebook"
    renews = frozenset({"SYSTEM_USER"})

    def renewal(self, kind: str | None) -> Renewal:
        return KINDS.get(kind or "", Renewal.NONE)

    def renew(self, calls: Calls, token: str, kind: str | None, app: AppKeys) -> RefreshResult:
        if self.renewal(kind) is not Renewal.EXCHANGE:
            return not_renewable(self.renewal(kind))
        if not app.app_id or not app.app_secret:
            message = (
                "the exchange needs the app id and secret (apps set-secret, apps set-inspector --app-id)"
            )
            return refresh_result(Verdict.INVALID, None, reason="no_app_secret", message=message, attempts=0)
        result = calls.exchange_token(token, app.app_id, app.app_secret, self.name)
        return replace(result, expiry_source=FROM_EXCHANGE) if result.ok else result
