"""Automatic refresh of long-lived tokens: pure eligibility rules, the store and spool, the job."""

from monitor.refresh.job import Refresher, spool_directory
from monitor.refresh.rules import eligible

__all__ = ["Refresher", "eligible", "spool_directory"]
