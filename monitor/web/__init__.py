"""The HTTP endpoint: /metrics, /healthz and the status pages."""

from monitor.web.server import WebServer

__all__ = ["WebServer"]
