"""The Threads API: the HTTP client, typed results of its answers, and the hourly call budget."""

from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.graph.results import CheckResult, GraphError, RefreshResult, Verdict, app_token

__all__ = ["CallBudget", "CheckResult", "GraphClient", "GraphError", "RefreshResult", "Verdict", "app_token"]
