"""Threads (graph.threads.com): debug_token, and `th_refresh_token` for long-lived user tokens.

The app token is `TH|APP_ID|APP_SECRET`; an app token (`type` APP) needs no renewal.
"""

from __future__ import annotations

from monitor.graph.base import Calls, Platform
from monitor.graph.results import CheckResult, GraphError, RefreshResult


class Threads(Platform):
    name = "threads"

    def app_token(self, app_id: str, app_secret: str) -> str:
        if not app_id or not app_secret or "|" in app_id + app_secret:
            raise GraphError("app_id and app_secret must be non-empty and must not contain '|'")
        return f"TH|{app_id}|{app_secret}"

    def inspect(self, calls: Calls, token: str, inspector: str) -> CheckResult:
        # The client's defaults are Threads': called as before platforms existed, so a client wrapped by
        # code of that time still sees the call it knows.
        return calls.debug_token(token, inspector)

    def grant(self, calls: Calls, token: str) -> RefreshResult:
        return calls.refresh_access_token(token)
