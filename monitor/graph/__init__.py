"""The Meta Graph APIs (Threads, Facebook, Instagram): the HTTP client, typed results of its answers, one
module per platform (PLATFORMS), and the hourly call budget."""

from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.graph.platforms import PLATFORMS, AppKeys, Platform, Renewal, platform_named
from monitor.graph.results import CheckResult, GraphError, RefreshResult, Verdict, app_token

__all__ = ["PLATFORMS", "AppKeys", "CallBudget", "CheckResult", "GraphClient", "GraphError", "Platform"]
__all__ += ["RefreshResult", "Renewal", "Verdict", "app_token", "platform_named"]
