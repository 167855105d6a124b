"""Instagram API with Instagram Login (graph.instagram.com): `ig_refresh_token`, and GET /me for tokens that
debug_token cannot describe.

Meta documents no debug_token on this host (shared/research/meta-platforms.md); third-party code calls it
anyway (observed), and what it answers is unconfirmed. So: ask debug_token once; a refusal of any kind (the
Graph API's "Unsupported get request", code 100 subcode 33, by default) is no verdict on the inspector, and
GET /me?fields=user_id,username says whether the token works. An answer without `expires_at` leaves the
expiry unknown (not "never"): the monitor keeps the one learned from its own refresh (`expires_in`).
"""

from __future__ import annotations

from dataclasses import replace

from monitor.graph.base import Calls, Platform
from monitor.graph.results import CheckResult, RefreshResult, Verdict


class Instagram(Platform):
    name = "instagram"

    def inspect(self, calls: Calls, token: str, inspector: str) -> CheckResult:
        described = calls.debug_token(token, inspector, self.name)
        if described.verdict in (Verdict.VALID, Verdict.INVALID):
            info = described.info
            if info is not None and not info.expires_given:
                return replace(described, info=replace(info, expiry_source=None))
            return described
        if described.verdict is Verdict.THROTTLED or described.reason in (
            "timeout",
            "connection",
            "http_5xx",
        ):
            return described  # no answer this time: /me would most likely fare no better
        seen = calls.me(token, self.name)
        return replace(seen, attempts=described.attempts + seen.attempts)

    def grant(self, calls: Calls, token: str) -> RefreshResult:
        return calls.refresh_access_token(token, self.name, "ig_refresh_token")
