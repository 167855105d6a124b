"""The daemon's components, each built with exactly what it uses: no component ever sees the Daemon.

A component gets a session factory, the vault, the clock and its own frozen settings (`AlertSettings`,
`RefreshSettings`, ...), never the configuration as a whole. `Wired` pairs it with the function that cuts its
settings out of a configuration, so a reload hands every component its own part and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from monitor import api
from monitor.alerting.job import AlertsComponent, AlertSettings
from monitor.check.settings import SweepSettings
from monitor.check.sweep import Sweeper
from monitor.config.load import Config
from monitor.crypto import Vault
from monitor.daemon.callbacks import CallbacksComponent, CallbacksSettings
from monitor.daemon.errors import DaemonError
from monitor.daemon.sweeping import calls_in_the_last_hour
from monitor.graph.budget import CallBudget
from monitor.graph.client import ApiUsage, GraphClient
from monitor.jobs import Component, Job
from monitor.metrics import Events
from monitor.metrics.fleet import FleetCountsComponent
from monitor.refresh.job import Refresher
from monitor.refresh.settings import RefreshSettings
from monitor.refresh.spooldir import spool_directory
from monitor.refresh.store import SPOOL_DIR, Spool
from monitor.sources.job import SourcesComponent, SourcesSettings
from monitor.state import Horizons
from monitor.web.server import WebServer

__all__ = ["Checking", "Wired", "build_checking", "build_components", "start_web"]

S = TypeVar("S")


@dataclass(frozen=True)
class Wired(Generic[S]):
    """A component and how to cut its settings out of a configuration (`reload` does both)."""

    component: Component[S]
    settings_of: Callable[[Config], S]

    def jobs(self) -> list[Job]:
        return self.component.jobs()

    def reload(self, config: Config) -> None:
        self.component.reload(self.settings_of(config))

    def stop(self) -> None:
        self.component.stop()

    def close(self) -> None:
        self.component.close()


@dataclass(frozen=True)
class Checking:
    """What checks tokens: the API client, the hourly call budget and the sweeper that uses both."""

    client: GraphClient
    budget: CallBudget
    sweeper: Sweeper


def build_checking(
    config: Config,
    *,
    sessions: sessionmaker[Session],
    vault: Vault,
    clock: Callable[[], float],
    owner: str,
    on_api_response: Callable[[str, str, ApiUsage | None], None],
    on_check: Callable[[str, float], None],
    on_progress: Callable[[], None],
) -> Checking:
    """The client, a budget that counts the calls stored in the last hour, and the sweeper; the client is
    closed again when a later step fails."""
    threads = config.threads
    client = GraphClient(
        base_url=threads.base_url,
        api_version=threads.api_version,
        hosts=config.platforms.hosts(),
        timeout=threads.timeout,
        retries=threads.retries,
        pool_size=max(16, threads.concurrency * 2),
        on_response=on_api_response,
    )
    try:
        budget = CallBudget(threads.max_calls_per_hour)
        budget.preload(calls_in_the_last_hour(sessions, clock()))
        sweep = SweepSettings.of(config)
        sweeper = Sweeper(
            sessions=sessions,
            vault=vault,
            client=client,
            cadence=sweep.cadence,
            owner=owner,
            concurrency=threads.concurrency,
            lease=sweep.lease,
            budget=budget,
            retries=threads.retries,
            clock=clock,
            on_check=on_check,
            on_progress=on_progress,
            horizons=sweep.horizons,
        )
    except BaseException:
        client.close()
        raise
    return Checking(client, budget, sweeper)


def start_web(
    config: Config,
    *,
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    sessions: sessionmaker[Session],
    horizons: Horizons,
    clock: Callable[[], float],
) -> WebServer:
    """The metrics and status endpoint, listening: a port in use is a DaemonError naming [http] listen."""
    web = WebServer(
        config.http, registry=registry, health=health, sessions=sessions, horizons=horizons, clock=clock
    )
    try:
        web.start()
    except OSError as exc:
        raise DaemonError(
            f"cannot listen on {config.http.listen} ([http] listen): {exc.strerror or exc}"
        ) from None
    except BaseException:
        web.stop()
        raise
    return web


def build_components(
    config: Config,
    *,
    sessions: sessionmaker[Session],
    vault: Vault,
    clock: Callable[[], float],
    owner: str,
    client: GraphClient,
    sweeper: Sweeper,
    budget: CallBudget,
    events: Events,
    notify_stream: Any = None,
    registry: CollectorRegistry | None = None,
) -> list[Wired[Any]]:
    """Alerting, refresh, sources, the fleet counts' folding and (with [callbacks]) the callback listener:
    the daemon schedules their jobs, reloads, stops and closes them. Components that count register their
    series on `registry`. The listener binds here: a port in use raises DaemonError."""
    alerts = AlertsComponent(
        sessions,
        AlertSettings.of(config),
        owner=owner,
        clock=clock,
        events=events,
        notify_stream=notify_stream,
        registry=registry,
    )
    refresher = Refresher(
        sessions=sessions,
        vault=vault,
        client=client,
        settings=RefreshSettings.of(config),
        owner=owner,
        check_now=sweeper.check_now,
        events=events,
        budget=budget,
        clock=clock,
        spool=Spool(spool_directory(config) / SPOOL_DIR, vault),
    )
    sources = SourcesComponent(
        sessions, vault, SourcesSettings.of(config), owner=owner, clock=clock, events=events
    )
    components: list[Wired[Any]] = [
        Wired(alerts, AlertSettings.of),
        Wired(refresher, RefreshSettings.of),
        Wired(sources, SourcesSettings.of),
        Wired(FleetCountsComponent(sessions.kw["bind"]), _no_settings),
    ]
    settings = CallbacksSettings.of(config)
    if settings is not None:
        if settings.callbacks.api_token is not None:
            events.registry_known(api.OPERATIONS, api.OUTCOMES)
        try:
            callbacks = CallbacksComponent(
                settings,
                sessions=sessions,
                vault=vault,
                sweeper=sweeper,
                count=events.callback,
                clock=clock,
                relay_outcome=events.notification,
                registry_count=events.registry_request,
            )
        except BaseException:
            for comp in components:  # built, not yet the daemon's: closing them is ours
                comp.close()
            raise
        components.append(Wired(callbacks, CallbacksSettings.of))
    return components


def _no_settings(config: Config) -> None:
    """The fleet counts' folding has nothing configurable."""
