"""Automatic refresh of long-lived tokens: pure eligibility rules, the store and spool, the job."""

from monitor.refresh.job import Refresher, spool_directory
from monitor.refresh.rules import eligible
from monitor.refresh.settings import RefreshSettings

__all__ = ["RefreshSettings", "Refresher", "eligible", "spool_directory"]
