"""The series every exporter has (SPEC 17): `process_*`, `python_*`, and the build info.

prometheus_client's ProcessCollector reads the boot time from /proc/stat and exports nothing when it cannot.
The systemd unit sets `ProcSubset=pid`, which hides /proc/stat; `ProcessCollector` here takes the boot time
from CLOCK_BOOTTIME instead (the clock /proc/PID/stat's start time counts on), so resident memory, CPU, open
and maximum file descriptors and the start time are there under the unit's sandbox too.
"""

from __future__ import annotations

import platform
import time
from importlib import resources

import prometheus_client
from prometheus_client import CollectorRegistry, Gauge, GCCollector, PlatformCollector
from prometheus_client import ProcessCollector as StockProcessCollector

__all__ = ["REVISION_FILE", "ProcessCollector", "build_revision", "parse_revision", "register_runtime"]

REVISION_FILE = "REVISION"  # written into the package by setup.py at build time (the git commit)
UNKNOWN = "unknown"


class ProcessCollector(StockProcessCollector):
    """prometheus_client's process collector, with the boot time from CLOCK_BOOTTIME (no /proc/stat)."""

    def _boot_time(self) -> float:
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def build_revision() -> str:
    """The git commit the installed package was built from, or "unknown" (a tree built without git)."""
    try:
        text = resources.files("monitor").joinpath(REVISION_FILE).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return UNKNOWN
    return parse_revision(text)


def parse_revision(text: str | None) -> str:
    """A REVISION file's commit (40 or 64 hex digits), else "unknown"."""
    commit = (text or "").strip()
    valid = len(commit) in (40, 64) and all(c in "0123456789abcdef" for c in commit)
    return commit if valid else UNKNOWN


def register_runtime(registry: CollectorRegistry, version: str) -> None:
    """process_*, python_* and threads_monitor_build_info{version,revision,python_version} on `registry`.

    Counters and histograms get no `_created` series (a process-wide setting of prometheus_client: the
    daemon's series carry no information in them, and they double the counters' samples)."""
    prometheus_client.disable_created_metrics()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    build = Gauge(
        "threads_monitor_build_info",
        "The running version, the commit it was built from and the Python running it (always 1).",
        ["version", "revision", "python_version"],
        registry=registry,
    )
    build.labels(version, build_revision(), platform.python_version()).set(1)
