"""What the sweep keeps per app: its inspector credential, platform, name, probe gate and throttling pause.

The sweep inspects tokens; this is the per-app state it needs to do so, loaded with each claim.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from monitor.check import store
from monitor.check.outcome import CheckOutcome, pause_for
from monitor.check.probe import InspectorProbes
from monitor.crypto import Vault
from monitor.graph.client import GraphClient
from monitor.graph.platforms import platform_named
from monitor.graph.results import CheckResult, Verdict, check_result
from monitor.state import InspectorState

log = logging.getLogger("monitor.sweep")


class SweepApps:
    """The apps of the tokens being inspected, cached across claims (a credential is decrypted once)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.inspectors: dict[int, tuple[str, str]] = {}  # app id -> (ciphertext, plaintext)
        self.platforms: dict[int, str] = {}  # app id -> its platform (monitor.graph.platforms)
        self.names: dict[int, str] = {}  # app id -> name, for the log
        self.paused_until: dict[int, float] = {}  # app id -> time its throttling ends
        # Refused inspector credentials: one probe token per app and backoff, not one wasted call per token.
        self.probes = InspectorProbes()

    def load(self, session: Session, app_ids: set[int]) -> None:
        """Read the apps `app_ids`: a changed inspector credential forgets what the old one taught."""
        for app in store.load_apps(session, list(app_ids)).values():
            self.names[app.id], self.platforms[app.id] = app.name, app.platform
            cached = self.inspectors.get(app.id)
            if cached is None or cached[0] != app.secret:
                self.inspectors[app.id] = (app.secret, self.vault.decrypt(app.secret))
                if cached is not None:  # a new inspector credential: forget what the old one taught us
                    self.probes.forget(app.id)
            if app.inspector_state == InspectorState.INVALID:
                self.probes.mark_invalid(app.id)

    def inspect(self, client: GraphClient, c: store.Claimed) -> CheckResult:
        """Inspect one claimed token with its app's inspector; an internal failure is an ERROR result."""
        try:
            platform = platform_named(self.platforms.get(c.app_id))  # it composes the client's calls
            return platform.inspect(client, self.vault.decrypt(c.secret), self.inspectors[c.app_id][1])
        except Exception as exc:  # one unreadable token must not abort the sweep of all the others
            why = type(exc).__name__
            log.error("token %s could not be inspected: %s", c.name, why)
            return check_result(Verdict.ERROR, None, reason="internal", message=why, attempts=0)

    def note_throttling(self, o: CheckOutcome, now: float, min_interval: float) -> None:
        """Pause the checks of a throttled app until its throttling is expected to end."""
        regain = pause_for(o.result, min_interval)
        if regain is not None and now + regain > self.paused_until.get(o.claimed.app_id, 0.0):
            self.paused_until[o.claimed.app_id] = now + regain
            app = self.names.get(o.claimed.app_id, f"#{o.claimed.app_id}")
            log.warning("app %s is throttled: pausing its checks for %.0f s", app, regain)
