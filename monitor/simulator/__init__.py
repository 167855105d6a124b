"""The Threads API simulator: `ThreadsApi` (state and answers) served over HTTP by `Simulator`."""

from monitor.simulator.api import DAY, DEBUG, FAULT_KINDS, REFRESH, ThreadsApi, token_digest
from monitor.simulator.server import Simulator, main

__all__ = ["DAY", "DEBUG", "FAULT_KINDS", "REFRESH", "Simulator", "ThreadsApi", "main", "token_digest"]
