"""The Meta Graph API simulator (Threads, Facebook, Instagram): `MetaApi` (state and answers, no HTTP)
served over HTTP by `Simulator`; `python -m monitor.simulator` runs one in a process of its own."""

from monitor.simulator.api import (
    DAY,
    DEBUG,
    EXCHANGE,
    FAULT_KINDS,
    ME,
    PLATFORMS,
    REFRESH,
    MetaApi,
    ThreadsApi,
    token_digest,
)
from monitor.simulator.callbacks import DATA_DELETION, DEAUTHORIZE, CallbackError
from monitor.simulator.command import main
from monitor.simulator.server import Simulator

__all__ = [
    "DATA_DELETION",
    "DAY",
    "DEAUTHORIZE",
    "DEBUG",
    "EXCHANGE",
    "FAULT_KINDS",
    "ME",
    "PLATFORMS",
    "REFRESH",
    "CallbackError",
    "MetaApi",
    "Simulator",
    "ThreadsApi",
    "main",
    "token_digest",
]
