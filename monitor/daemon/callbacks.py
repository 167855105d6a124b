"""The [callbacks] component: the listener (monitor.callbacks.CallbackServer) and the checks it queues.

Built with what it uses: the session factory and vault (to read app secrets and store callbacks), the
sweeper (whose API client and call budget the queued checks share, on workers of their own:
monitor.check.recheck), the metrics hook and the clock. Its listener binds when it is built, so a port in
use is a start-up error naming the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.api import RegistryApi
from monitor.callbacks import CallbackServer, Kind, Outcome, RecheckRequest
from monitor.callbacks.store import (
    app_exists,
    app_secret,
    queue_relay,
    store_deauthorization,
    store_recheck,
)
from monitor.check.recheck import Rechecker
from monitor.check.sweep import Sweeper
from monitor.config.load import CallbacksConfig
from monitor.crypto import Vault
from monitor.daemon.errors import DaemonError
from monitor.db.session import transaction
from monitor.jobs import Job
from monitor.state import Horizons

__all__ = ["CallbacksComponent", "RegistryContext"]

log = logging.getLogger("monitor.callbacks")


@dataclass(frozen=True)
class RegistryContext:
    """What the registry API reads of the running daemon: thresholds and configured sources (a reload may
    change both), and its request counter."""

    horizons: Callable[[], Horizons]
    sources: Callable[[], Collection[str]]
    count: Callable[[str, str], None]


class CallbacksComponent:
    """Serves [callbacks] and checks what it queues; a `jobs.Component` with no scheduled job."""

    def __init__(
        self,
        config: CallbacksConfig,
        *,
        sessions: sessionmaker[Session],
        vault: Vault,
        sweeper: Sweeper,
        count: Callable[[Kind, Outcome], None],
        clock: Callable[[], float],
        registry: RegistryContext | None = None,
    ) -> None:
        self.sessions, self.vault, self.clock = sessions, vault, clock
        self.forward_url = config.forward_url
        self._warned: set[str] = set()  # apps already named in a "no app secret" warning
        self.rechecker = Rechecker(sweeper)
        api = self._registry_api(registry) if registry is not None else None
        self.server = CallbackServer(
            secret_for=self.secret_for,
            on_deauthorize=self.on_deauthorize,
            on_recheck=self.on_recheck,
            count=count,
            now=clock,
            api_token=config.api_token,
            host=config.host,
            port=config.port,
            tls_cert_file=config.tls_cert_file,
            tls_key_file=config.tls_key_file,
            api_routes=api.routes() if api is not None else (),
        )
        try:
            self.server.start()
        except OSError as exc:
            self.rechecker.stop()
            raise DaemonError(
                f"cannot listen on {config.listen} ([callbacks] listen): {exc.strerror or exc}"
            ) from None
        self.rechecker.start()

    def _registry_api(self, registry: RegistryContext) -> RegistryApi:
        """The registry API (monitor.api), authorised by this listener's own bearer check."""
        return RegistryApi(
            sessions=self.sessions,
            vault=self.vault,
            authorised=lambda request: self.server.authorised(request),
            wake=self.rechecker.wake,
            horizons=registry.horizons,
            sources=registry.sources,
            count=registry.count,
            clock=self.clock,
        )

    def secret_for(self, app: str) -> str | None:
        """The app's secret; None refuses the callback (once per app, a registered app without a stored
        secret is named in a warning: callbacks were wired before `apps set-secret`)."""
        with self.sessions() as s:
            secret = app_secret(s, self.vault, app)
            if secret is None and app not in self._warned and app_exists(s, app):
                self._warned.add(app)
                log.warning(
                    "deauthorize callbacks for app %s are refused: no app secret is stored "
                    "(threads-token-monitor apps set-secret %s ...)",
                    app,
                    app,
                )
        return secret

    def on_deauthorize(self, app: str, user_id: str, issued_at: int, body: bytes, content_type: str) -> None:
        """Store the callback, queue its tokens and (with forward_url) its relay, all committed before the
        200 goes out; then wake the checks."""
        now = self.clock()
        with transaction(self.sessions) as s:
            queued = store_deauthorization(s, app, user_id, issued_at, now)
            if self.forward_url:
                queue_relay(s, app, body, content_type, now)
        log.info("deauthorize callback for app %s queued %d token(s) for a check", app, queued)
        self.rechecker.wake()

    def on_recheck(self, request: RecheckRequest) -> int:
        with transaction(self.sessions) as s:
            queued = store_recheck(s, request, self.clock())
        self.rechecker.wake()
        return queued

    @property
    def url(self) -> str:
        return self.server.url

    def jobs(self) -> list[Job]:
        return []

    def reload(self, config: Any) -> None:
        """A new forward_url applies at once; the listener keeps its address, TLS files and API token
        until a restart."""
        if config.callbacks is not None:
            self.forward_url = config.callbacks.forward_url

    def stop(self) -> None:
        """Stop answering callbacks (Meta retries what it could not deliver), then the queued checks."""
        self.server.stop()
        self.rechecker.stop()

    def close(self) -> None:
        self.stop()
