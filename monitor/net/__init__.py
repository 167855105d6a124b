"""Talking to peers over the network with bounds: outbound calls with a total deadline and a size cap."""

from monitor.net.client import BoundedSession, DeadlineExceeded, Reply, TooLarge, shutdown_at

__all__ = ["BoundedSession", "DeadlineExceeded", "Reply", "TooLarge", "shutdown_at"]
