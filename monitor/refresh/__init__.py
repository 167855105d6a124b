"""Automatic refresh of long-lived tokens: pure eligibility rules, the store and spool, the job."""

from monitor.refresh.job import Refresher
from monitor.refresh.rules import eligible
from monitor.refresh.settings import RefreshSettings
from monitor.refresh.spooldir import spool_directory

__all__ = ["RefreshSettings", "Refresher", "eligible", "spool_directory"]
