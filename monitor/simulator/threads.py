"""Threads (graph.threads.com / graph.threads.net): `/v1.0/debug_token` and `/refresh_access_token`.

Choices where the real API is undocumented:
- A refresh answers a NEW random string; the old string keeps working until its own expiry.
- App mismatch: HTTP 400, code 100, "(#100) The App_id in the input_token did not match the Viewing App".
- A "dev_mode" app rejects user-token inspectors (code 100) but accepts its app token `TH|<app_id>|<secret>`.
- An inspector that is not one (any unknown string, a tester token of no registered app): HTTP 400, code 190.
- A refresh is refused for a token younger than 24 h with HTTP 400, code 190 and no subcode, and for a token
  without `threads_basic` with code 10.
- debug_token answers without `granular_scopes` unless a token is given some (Threads documents a subset of
  the Facebook fields).
"""

from __future__ import annotations

from typing import ClassVar

from monitor.simulator.base import Answer, Platform, Query, debug_answer, refresh_answer
from monitor.simulator.registry import Registry
from monitor.simulator.wire import DEBUG, REFRESH, envelope


class Threads(Platform):
    name = "threads"
    usage_type = "threads"
    token_prefix = "THAA"
    paths: ClassVar[dict[str, str]] = {"/debug_token": DEBUG, "/refresh_access_token": REFRESH}
    notes: ClassVar[dict[str, str]] = {
        DEBUG: "input_token, access_token=DEVELOPER-TOKEN | TH|APP_ID|APP_SECRET",
        REFRESH: "grant_type=th_refresh_token, access_token",
    }
    granular = False
    strict_callers = False

    def app_token(self, app_id: str, secret: str) -> str:
        return f"TH|{app_id}|{secret}"

    def default_scopes(self, kind: str) -> tuple[str, ...]:
        return () if kind == "APP" else ("threads_basic", "threads_content_publish")

    def answer(self, reg: Registry, endpoint: str, query: Query, method: str) -> Answer:
        if endpoint == DEBUG:
            return debug_answer(self, reg, query, method)
        if endpoint == REFRESH:
            return refresh_answer(self, reg, query, "th_refresh_token", "threads_basic")
        return 404, envelope(803, "Unknown path"), "0"
