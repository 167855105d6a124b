"""The series every exporter has: process_* (also under the unit's ProcSubset=pid), python_*, no _created
series, and build_info with version, revision and python_version."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client import ProcessCollector as StockProcessCollector
from support import missing

from monitor.metrics.runtime import ProcessCollector, build_revision, parse_revision, register_runtime


def values(registry: CollectorRegistry) -> dict[str, float]:
    return {s.name: s.value for f in registry.collect() for s in f.samples if not s.labels}


def test_process_and_python_series_and_build_info() -> None:
    registry = CollectorRegistry()
    register_runtime(registry, "9.9.9")
    found = values(registry)
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ):
        assert found[name] > 0, name
    labels = {"version": "9.9.9", "revision": build_revision(), "python_version": platform.python_version()}
    assert registry.get_sample_value("threads_monitor_build_info", labels) == 1.0
    assert registry.get_sample_value("python_info", {**_python_info()}) == 1.0
    assert registry.get_sample_value("python_gc_collections_total", {"generation": "0"}) is not None


def _python_info() -> dict[str, str]:
    info = platform.python_version_tuple()
    return {
        "implementation": platform.python_implementation(),
        "major": info[0],
        "minor": info[1],
        "patchlevel": info[2],
        "version": platform.python_version(),
    }


def test_the_start_time_agrees_with_the_stock_collector() -> None:
    """Both count the process's start from boot; only where they get the boot time from differs."""
    ours = values(_collected(ProcessCollector))["process_start_time_seconds"]
    stock = values(_collected(StockProcessCollector))["process_start_time_seconds"]
    assert abs(ours - stock) < 2.0  # /proc/stat's btime is rounded down to the second


def _collected(cls: type) -> CollectorRegistry:
    registry = CollectorRegistry()
    cls(registry=registry)
    return registry


def test_no_created_series() -> None:
    registry = CollectorRegistry()
    register_runtime(registry, "t")
    Counter("threads_monitor_example", "A counter.", registry=registry).inc()
    assert b"_created" not in generate_latest(registry)


COLLECT = textwrap.dedent(
    """
    import json, os
    from prometheus_client import CollectorRegistry
    from prometheus_client import ProcessCollector as Stock
    from monitor.metrics.runtime import ProcessCollector

    def names(cls):
        registry = CollectorRegistry()
        cls(registry=registry)
        return sorted(s.name for f in registry.collect() for s in f.samples)

    found = {"stat": os.path.exists("/proc/stat"), "stock": names(Stock), "ours": names(ProcessCollector)}
    print(json.dumps(found))
    """
)


def test_process_series_under_proc_subset_pid() -> None:
    """The unit's ProcSubset=pid mounts /proc with subset=pid: no /proc/stat. The same mount, made in a user
    and PID namespace of our own, with the collectors run inside it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        missing("unshare (util-linux) is not installed")
    mount = "mount -t proc -o subset=pid proc /proc"
    script = f'{mount} && exec "$0" -c "$1"'
    done = subprocess.run(
        [unshare, "-r", "-m", "-p", "-f", "sh", "-c", script, sys.executable, COLLECT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if done.returncode != 0 and not done.stdout:
        missing(f"cannot mount /proc with subset=pid in a user namespace here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["stat"] is False, "the mount did not hide /proc/stat"
    assert result["stock"] == [], "the stock collector needs /proc/stat: this test would not see a fix"
    assert {
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    } <= set(result["ours"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0123456789abcdef0123456789abcdef01234567\n", "0123456789abcdef0123456789abcdef01234567"),
        ("not a commit\n", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_a_revision_is_a_commit_or_unknown(content: str | None, expected: str) -> None:
    assert parse_revision(content) == expected
