"""threads-token-monitor: watches Meta Threads API access tokens."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("threads-token-monitor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
