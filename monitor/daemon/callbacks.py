"""The [callbacks] component: the listener (monitor.callbacks.CallbackServer) and the checks it queues.

Built with what it uses: its settings (`CallbacksSettings`: [callbacks], and the thresholds and source names
the registry API reads), the session factory and vault (to read app secrets and store callbacks), the
sweeper (whose API client and call budget the queued checks share, on workers of their own:
monitor.check.recheck), the metrics hooks and the clock. Its listener binds when it is built, so a port in
use is a start-up error naming the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.api import RegistryApi
from monitor.callbacks import (
    CallbackServer,
    Deauthorization,
    DeletionHooks,
    DeletionRecord,
    Kind,
    Outcome,
    RecheckRequest,
    find_by_code,
    find_by_key,
    mentions_user,
    request_key,
    store_deletion,
    user_key,
)
from monitor.callbacks.store import (
    RELAY_BACKLOG,
    app_exists,
    app_platform,
    app_secret,
    queue_relay,
    store_deauthorization,
    store_recheck,
)
from monitor.check.recheck import Rechecker
from monitor.check.sweep import Sweeper
from monitor.config.load import CallbacksConfig, Config
from monitor.crypto import Vault
from monitor.daemon.errors import DaemonError
from monitor.db.session import transaction
from monitor.httpd import Limits
from monitor.jobs import Job
from monitor.notify.relay import RELAY
from monitor.registry import erase_user
from monitor.state import Horizons

__all__ = ["CallbacksComponent", "CallbacksSettings"]

log = logging.getLogger("monitor.callbacks")


@dataclass(frozen=True)
class CallbacksSettings:
    """[callbacks]; and what the registry API reads: the thresholds (for a token's state) and the names of
    the configured sources (whose tokens it refuses to edit). A reload may change all three."""

    callbacks: CallbacksConfig
    horizons: Horizons = Horizons()
    sources: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: Config) -> CallbacksSettings | None:
        """None without a [callbacks] section: no listener."""
        if config.callbacks is None:
            return None
        names = frozenset(s.name for s in config.sources)
        return cls(config.callbacks, Horizons.from_alerts(config.alerts), names)


class CallbacksComponent:
    """Serves [callbacks] and checks what it queues; a `jobs.Component` with no scheduled job."""

    def __init__(
        self,
        settings: CallbacksSettings,
        *,
        sessions: sessionmaker[Session],
        vault: Vault,
        sweeper: Sweeper,
        count: Callable[[Kind, Outcome], None],
        clock: Callable[[], float],
        relay_outcome: Callable[[str, str], None] = lambda notifier, outcome: None,
        registry_count: Callable[[str, str], None] | None = None,
    ) -> None:
        config = settings.callbacks
        self.settings, self.sessions, self.vault, self.clock = settings, sessions, vault, clock
        self.relay_outcome = relay_outcome
        self.forward_url, self.public_url = config.forward_url, config.public_url
        self._warned: set[str] = set()  # apps already named in a "no app secret" warning
        self.max_tokens = config.recheck_max_tokens
        self.rechecker = Rechecker(sweeper, share=config.recheck_share)
        api = self._registry_api(registry_count) if registry_count is not None else None
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
            limits=Limits(
                max_connections=config.max_connections,
                max_connections_per_client=config.max_connections_per_client,
                request_deadline=config.request_timeout,
                head_deadline=config.header_timeout,
                idle_timeout=config.idle_timeout,
                close_after_error=True,
            ),
            api_routes=api.routes() if api is not None else (),
            platform_of=self.platform_of,
            deletion=DeletionHooks(self.on_data_deletion, self.find_deletion, lambda: self.public_url),
        )
        try:
            self.server.start()
        except OSError as exc:
            self.rechecker.stop()
            raise DaemonError(
                f"cannot listen on {config.listen} ([callbacks] listen): {exc.strerror or exc}"
            ) from None
        self.rechecker.start()

    def _registry_api(self, count: Callable[[str, str], None]) -> RegistryApi:
        """The registry API (monitor.api), behind the listener's own bearer check (throttled like recheck);
        it reads the thresholds and source names of the settings in force (`reload` replaces them)."""
        return RegistryApi(
            sessions=self.sessions,
            vault=self.vault,
            refusal=lambda request: self.server.bearer_refusal(request),
            wake=self.rechecker.wake,
            horizons=lambda: self.settings.horizons,
            sources=lambda: self.settings.sources,
            count=count,
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

    def on_deauthorize(self, app: str, user_id: str, issued_at: int, body: bytes, content_type: str) -> bool:
        """Store the callback, queue its tokens and (with forward_url) its relay, all committed before the
        200 goes out; then wake the checks. False for a replay: nothing stored, queued or relayed."""
        now = self.clock()
        try:
            with transaction(self.sessions) as s:
                secret = app_secret(s, self.vault, app)
                erased = user_key(secret, app, user_id) if secret else None
                queued = store_deauthorization(s, app, user_id, issued_at, now, erased)
                relayed = queued is not None and bool(self.forward_url)
                if relayed and not queue_relay(s, app, body, content_type, now):
                    relayed = False
                    self._relay_dropped(app)
        except IntegrityError:  # a copy of this callback was stored meanwhile by another request
            return False
        if queued is None:
            return False
        log.info("deauthorize callback for app %s queued %d token(s) for a check", app, queued)
        self.rechecker.wake()
        return True

    def _relay_dropped(self, app: str) -> None:
        self.relay_outcome(RELAY, "dropped")
        log.warning(
            "deauthorize callback for app %s stored and checked, but not relayed to forward_url: %d relays "
            "of this app are pending already (is the handler down?)",
            app,
            RELAY_BACKLOG,
        )

    def platform_of(self, app: str) -> str | None:
        with self.sessions() as s:
            return app_platform(s, app)

    def on_data_deletion(
        self, app: str, platform: str, verified: Deauthorization, secret: str
    ) -> tuple[DeletionRecord, bool]:
        """Delete what the monitor holds about the request's user and record it, in one transaction before
        the answer goes out: (the record, False). The same request again: (its record, True), nothing
        else done. Raises (nothing deleted) if it cannot be done."""
        key, now, user = request_key(secret, app, platform, verified), self.clock(), verified.user_id
        try:
            with transaction(self.sessions) as s:
                found = find_by_key(s, key)
                if found is not None:
                    return found, True
                erased = erase_user(s, app, user, now=now, mentions=mentions_user(user))
                who = user_key(secret, app, user)
                record = store_deletion(s, key, app, platform, now, erased.to_json(), who)
        except IntegrityError:  # the same request, done meanwhile by another connection or daemon
            with self.sessions() as s:
                found = find_by_key(s, key)
            if found is None:
                raise
            return found, True
        counts = ", ".join(f"{n} {kind}" for kind, n in record.counts.items() if n)
        log.info("data deletion request for app %s: deleted %s", app, counts or "nothing (none held)")
        return record, False

    def find_deletion(self, code: str) -> DeletionRecord | None:
        with self.sessions() as s:
            return find_by_code(s, code)

    def on_recheck(self, request: RecheckRequest) -> dict[str, int]:
        """Queue at most `recheck_max_tokens` of what `request` names; the counts of the 202 answer."""
        with transaction(self.sessions) as s:
            done = store_recheck(s, request, self.clock(), limit=self.max_tokens)
        self.rechecker.wake()
        return done.to_json()

    @property
    def url(self) -> str:
        return self.server.url

    def jobs(self) -> list[Job]:
        return []

    def reload(self, settings: CallbacksSettings | None) -> None:
        """A new forward_url, public_url, the recheck limits, thresholds and source names apply at once; the
        listener keeps its address, TLS files, bounds and API token until a restart (None: [callbacks] was
        removed, which too waits for a restart)."""
        if settings is None:
            return
        self.settings = settings
        self.forward_url = settings.callbacks.forward_url
        self.public_url = settings.callbacks.public_url
        self.max_tokens = settings.callbacks.recheck_max_tokens
        self.rechecker.reload(settings.callbacks.recheck_share)

    def stop(self) -> None:
        """Stop answering callbacks (Meta retries what it could not deliver), then the queued checks."""
        self.server.stop()
        self.rechecker.stop()

    def close(self) -> None:
        self.stop()
