"""What a Meta platform is to the monitor: how its tokens are inspected and renewed (SPEC 16).

One module per platform (threads.py, facebook.py, instagram.py) subclasses `Platform`; platforms.py keeps the
one dict from a platform's name to it. Everything above this layer speaks of tokens and calls
`GraphClient.inspect` / `GraphClient.renew`, never of Facebook or Threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol

from monitor.graph.results import CheckResult, GraphError, RefreshResult, Verdict, refresh_result


class Renewal(StrEnum):
    """How a token of some kind is renewed by a server, if at all."""

    GRANT = "grant"  # refresh_access_token (th_refresh_token, ig_refresh_token)
    EXCHANGE = "exchange"  # fb_exchange_token with set_token_expires_in_60_days=true and the app secret
    REAUTHORIZE = "reauthorize"  # nothing a server can do: the person must log in again before the expiry
    NONE = "none"  # never expires, or needs no renewal (Page and app tokens)


@dataclass(frozen=True)
class AppKeys:
    """An app's id and secret where the monitor holds them (an exchange needs both)."""

    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)


class Calls(Protocol):
    """The HTTP calls a platform composes (GraphClient's)."""

    def debug_token(self, input_token: str, inspector: str, platform: str = ...) -> CheckResult: ...

    def refresh_access_token(
        self, token: str, platform: str = ..., grant_type: str = ...
    ) -> RefreshResult: ...

    def exchange_token(self, token: str, app_id: str, app_secret: str, platform: str) -> RefreshResult: ...

    def me(self, token: str, platform: str) -> CheckResult: ...


class Platform:
    """One platform's rules; stateless."""

    name: ClassVar[str]
    # The token types a server renews: `renews` (None: every type but those in `keeps`). Also read as SQL by
    # the refresh job's claim (monitor.refresh.store), so the two cannot disagree.
    renews: ClassVar[frozenset[str] | None] = None
    keeps: ClassVar[frozenset[str]] = frozenset({"APP"})

    def renews_kind(self, kind: str | None) -> bool:
        """Whether a server renews a token of debug_token `type` `kind` (None: not known yet)."""
        if self.renews is not None:
            return kind in self.renews
        return kind not in self.keeps

    def app_token(self, app_id: str, app_secret: str) -> str:
        """The app access token `APP_ID|APP_SECRET`, a debug_token caller."""
        if not app_id or not app_secret or "|" in app_id + app_secret:
            raise GraphError("app_id and app_secret must be non-empty and must not contain '|'")
        return f"{app_id}|{app_secret}"

    def app_keys(self, inspector: str) -> AppKeys | None:
        """The app id and secret inside an app token made by `app_token`; None for any other credential."""
        parts = inspector.split("|")
        return AppKeys(parts[-2], parts[-1]) if len(parts) in (2, 3) and all(parts[-2:]) else None

    def inspect(self, calls: Calls, token: str, inspector: str) -> CheckResult:
        """What the platform says about `token`."""
        return calls.debug_token(token, inspector, self.name)

    def renewal(self, kind: str | None) -> Renewal:
        """How a token of debug_token `type` `kind` is renewed."""
        return Renewal.GRANT if self.renews_kind(kind) else Renewal.NONE

    def renew(self, calls: Calls, token: str, kind: str | None, app: AppKeys) -> RefreshResult:
        """A new string for `token`, or why not (a refusal is INVALID: permanent)."""
        renewal = self.renewal(kind)
        return self.grant(calls, token) if renewal is Renewal.GRANT else not_renewable(renewal)

    def grant(self, calls: Calls, token: str) -> RefreshResult:
        """The platform's refresh grant (Threads and Instagram have one)."""
        return not_renewable(Renewal.NONE)


def not_renewable(renewal: Renewal) -> RefreshResult:
    """The answer for a token no server call renews (never asked of the API)."""
    message = (
        "the user must re-authorize" if renewal is Renewal.REAUTHORIZE else "this kind is never refreshed"
    )
    return refresh_result(Verdict.INVALID, None, reason="not_renewable", message=message, attempts=0)
