"""The daemon's components, each built with exactly what it uses: no component ever sees the Daemon."""

from __future__ import annotations

from typing import Any

from monitor import api
from monitor.alerting.job import AlertsComponent
from monitor.check.sweep import Sweeper
from monitor.config.load import Config
from monitor.context import Context
from monitor.daemon.callbacks import CallbacksComponent, RegistryContext
from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.jobs import Component
from monitor.metrics.fleet import FleetCountsComponent
from monitor.refresh.job import Refresher, spool_directory
from monitor.refresh.store import SPOOL_DIR, Spool
from monitor.sources.job import SourcesComponent


def build_components(
    ctx: Context,
    config: Config,
    *,
    owner: str,
    client: GraphClient,
    sweeper: Sweeper,
    budget: CallBudget,
    events: Any,
    notify_stream: Any = None,
) -> list[Component]:
    """Alerting, refresh, sources, the fleet counts' folding and (with [callbacks]) the callback listener:
    the daemon schedules their jobs, reloads, stops and closes them. The listener binds here: a port in use
    raises DaemonError."""
    alerts = AlertsComponent(
        ctx.sessions, config, owner=owner, clock=ctx.clock, events=events, notify_stream=notify_stream
    )
    refresher = Refresher(
        sessions=ctx.sessions,
        vault=ctx.vault,
        client=client,
        config=config,
        owner=owner,
        check_now=sweeper.check_now,
        events=events,
        budget=budget,
        clock=ctx.clock,
        spool=Spool(spool_directory(config) / SPOOL_DIR, ctx.vault),
    )
    sources = SourcesComponent(ctx, config, owner=owner, events=events)
    components: list[Component] = [alerts, refresher, sources, FleetCountsComponent(ctx.engine)]
    if config.callbacks is not None:
        if config.callbacks.api_token is not None:
            events.registry_known(api.OPERATIONS, api.OUTCOMES)
        try:
            callbacks = CallbacksComponent(
                config.callbacks,
                sessions=ctx.sessions,
                vault=ctx.vault,
                sweeper=sweeper,
                count=events.callback,
                clock=ctx.clock,
                relay_outcome=events.notification,
                registry=RegistryContext(
                    horizons=lambda: ctx.horizons,
                    sources=lambda: {src.name for src in ctx.config.sources},
                    count=events.registry_request,
                ),
            )
        except BaseException:
            for comp in components:  # built, not yet the daemon's: closing them is ours
                comp.close()
            raise
        components.append(callbacks)
    return components
