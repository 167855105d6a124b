"""The metrics' inputs for a test's Context: one `MetricsInputs` per context, reloaded by `configure`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.config.load import MetricsConfig
from monitor.context import Context
from monitor.metrics import MetricsInputs, MetricsSettings

_INPUTS: dict[int, tuple[Context, MetricsInputs]] = {}


def metrics_inputs(ctx: Context) -> MetricsInputs:
    """What the daemon hands its metrics, built from `ctx`: the same object for the same context, holding
    the settings of `ctx.config` as it is now."""
    settings = MetricsSettings.of(ctx.config)
    held = _INPUTS.get(id(ctx))
    if held is None or held[0] is not ctx:
        held = _INPUTS[id(ctx)] = (ctx, MetricsInputs(ctx.engine, settings, clock=ctx.clock))
    held[1].reload(settings)
    return held[1]


def configure(ctx: Context, **metrics: Any) -> None:
    """What a SIGHUP reload does: a new config, and the metrics reloaded with their part of it."""
    ctx.config = replace(ctx.config, metrics=MetricsConfig(**metrics))
    metrics_inputs(ctx)
