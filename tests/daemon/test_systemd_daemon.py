"""The real daemon under a fake service manager: a NOTIFY_SOCKET this test binds, a 1 s watchdog, signals.

Each test starts `python -m monitor run` as a child process against the built-in Threads API simulator and
reads the sd_notify datagrams it sends: READY=1 once it runs, STATUS= lines, WATCHDOG=1 only while sweeps
make progress, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM. Waits are reads with deadlines;
the only fixed-length wait is the window in which a withheld watchdog ping must NOT arrive.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_config
from support import STOP_DEADLINE, wait_until

from monitor.cli import main
from monitor.simulator import Simulator

WATCHDOG_USEC = 1_000_000
INTERVAL = WATCHDOG_USEC / 1_000_000  # systemd restarts the service after this long without a ping
APP_ID, INSPECTOR = "4242", "INSPECTOR-TOKEN"
SYSTEMD_ENV = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "THREADS_TOKEN_MONITOR_CONFIG",
)


@dataclass(frozen=True)
class Message:
    at: float  # time.time() when the test read it (the test is blocked in recv, so: when it arrived)
    fields: dict[str, str]


class NotifySocket:
    """The service manager's end of $NOTIFY_SOCKET: a bound unix datagram socket and every message read."""

    def __init__(self) -> None:
        # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer than that.
        self.dir = tempfile.mkdtemp(prefix="ttm", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen: list[Message] = []

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def read(self, timeout: float) -> Message | None:
        """The next datagram, or None when none arrives within `timeout` seconds."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        fields = dict(line.partition("=")[::2] for line in data.decode().splitlines())
        message = Message(time.time(), fields)
        self.seen.append(message)
        return message

    def wait_for(self, match: Callable[[Message], bool], timeout: float, what: str) -> Message:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.read(left)
            if message is not None and match(message):
                return message
        raise AssertionError(f"no {what} within {timeout} s; got {[m.fields for m in self.seen]}")

    def drain(self) -> list[Message]:
        """Everything already queued (sent before this call), without waiting for more."""
        drained = []
        while (message := self.read(0.001)) is not None:
            drained.append(message)
        return drained

    def during(self, seconds: float) -> list[Message]:
        """Every message that arrives in the next `seconds`: an observation window for absence."""
        deadline, got = time.monotonic() + seconds, []
        while (left := deadline - time.monotonic()) > 0:
            message = self.read(left)
            if message is not None:
                got.append(message)
        return got


def has(key: str, value: str | None = None) -> Callable[[Message], bool]:
    return lambda m: key in m.fields and (value is None or m.fields[key] == value)


def pings(messages: list[Message]) -> list[float]:
    return [m.at for m in messages if m.fields.get("WATCHDOG") == "1"]


@dataclass
class Setup:
    config: Path
    log: Path
    sim: Simulator
    tokens: list[str]


def cli(config: Path, *args: str) -> None:
    """The CLI in-process: setting up the registry needs no daemon, and a child per command costs ~1 s."""
    assert main(["--config", str(config), *args]) == 0


def clean_env() -> dict[str, str]:
    """This process's environment without anything a real service manager (or a CI runner) set."""
    return {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}


def config_text(sim: Simulator) -> str:
    return f"""
[threads]
base_url = "{sim.url}"
timeout = "60s"
concurrency = 2
retries = 0

[schedule]
sweep_interval = "1s"
min_check_interval = "1s"
jitter = 0

[http]
listen = "127.0.0.1:0"
"""


def prepare(tmp_path: Path, sim: Simulator, *, tokens: int, soon: int = 0) -> Setup:
    """A migrated SQLite registry with one app and `tokens` healthy tokens plus `soon` expiring in 2 minutes.

    A token that expires in 2 minutes is checked again every 2.5 s (remaining / 48), so the sweeps keep
    calling the simulator: the proof that the daemon is still sweeping.
    """
    config = write_config(
        tmp_path / "config.toml",
        f"sqlite:///{tmp_path / 'monitor.sqlite3'}",
        tmp_path / "secret.key",
        config_text(sim),
    )
    sim.add_app(APP_ID, INSPECTOR)
    names = [f"healthy-{i}" for i in range(tokens)] + [f"soon-{i}" for i in range(soon)]
    lines = ["name,app,token"]
    for name in names:
        token = f"THAA-{name}-{tmp_path.name}"
        expires = time.time() + 120 if name.startswith("soon") else None
        sim.add_token(token, app_id=APP_ID, expires_at=expires)
        lines.append(f"{name},growth,{token}")
    (tmp_path / "tokens.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cli(config, "init")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TTM_INSPECTOR", INSPECTOR)
        cli(config, "apps", "add", "growth", "--inspector-token-env", "TTM_INSPECTOR")
    cli(config, "tokens", "import", str(tmp_path / "tokens.csv"))
    return Setup(config, tmp_path / "daemon.log", sim, [line.split(",")[2] for line in lines[1:]])


class Daemon:
    """`threads-token-monitor run` as a child; stderr goes to a file (that may pose as journald's stream)."""

    def __init__(self, setup: Setup, notify: NotifySocket, *, journald: bool = False) -> None:
        self.log = setup.log
        self._stderr = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        env = clean_env() | {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        # systemd also sets WATCHDOG_PID to the main pid; it cannot be known before the spawn, and a missing
        # WATCHDOG_PID means "the watchdog is armed for whoever reads WATCHDOG_USEC" (sd_watchdog_enabled(3)).
        if journald:
            st = os.fstat(self._stderr.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(setup.config), "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
        )

    def wait_ready(self, notify: NotifySocket) -> Message:
        try:
            return notify.wait_for(has("READY", "1"), 15, "READY=1")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ndaemon alive: {self.alive()}, its log:\n{self.text()}") from None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            match = re.search(pattern, self.text(), re.MULTILINE)
            assert match or self.alive(), f"daemon exited with {self.proc.returncode}:\n{self.text()}"
            return match

        try:
            match: re.Match[str] = wait_until(found, timeout, f"a log line matching {pattern!r}")
        except AssertionError as exc:
            if "timed out" not in str(exc):
                raise  # the daemon exited: its log is in the message already
            raise AssertionError(f"{exc}:\n{self.text()}") from None
        return match

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def spawn() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(setup: Setup, notify: NotifySocket, **kwargs: bool) -> Daemon:
        started.append(Daemon(setup, notify, **kwargs))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def sigterm_exits_cleanly(daemon: Daemon, notify: NotifySocket) -> None:
    """SIGTERM: STOPPING=1 arrives and the process exits 0 before systemd would kill it."""
    daemon.signal(signal.SIGTERM)
    notify.wait_for(has("STOPPING", "1"), STOP_DEADLINE, "STOPPING=1")
    code = daemon.proc.wait(STOP_DEADLINE)
    assert code == 0, daemon.text()


def test_ready_status_watchdog_reload_and_stop_under_journald(
    tmp_path: Path, sim: Simulator, notify: NotifySocket, spawn: Callable[..., Daemon]
) -> None:
    # 8 checks of 0.4 s with 2 workers: a first sweep of ~1.6 s, longer than the watchdog interval.
    setup = prepare(tmp_path, sim, tokens=7, soon=1)
    sim.set_fault("latency", seconds=0.4)
    daemon = spawn(setup, notify, journald=True)

    ready = daemon.wait_ready(notify)
    assert ready.fields["STATUS"].startswith("watching tokens")
    swept = notify.wait_for(has("STATUS", "last sweep inspected 8 token(s)"), 15, "the first sweep's STATUS")

    # While that sweep ran, checks kept finishing, so the watchdog kept being fed: pings arrived between its
    # first API call and its end (how often, on a clock, is test_watchdog.py's).
    calls = [at for at, _, _ in sim.call_log()]
    assert [at for at in pings(notify.seen) if calls[0] <= at <= swept.at], "no WATCHDOG=1 during the sweep"
    sim.clear_faults()

    # Between sweeps the daemon is idle, and idle is alive: the pings go on.
    for _ in range(2):
        notify.wait_for(has("WATCHDOG", "1"), 10, "a watchdog ping while idle")

    # SIGHUP with a valid new config (new alert thresholds): RELOADING=1, then READY=1, and the log says so.
    setup.config.write_text(
        setup.config.read_text(encoding="utf-8")
        + '\n[alerts]\nexpiry = { warning = "9d", critical = "3d" }\n',
        encoding="utf-8",
    )
    daemon.signal(signal.SIGHUP)
    notify.wait_for(has("RELOADING", "1"), 10, "RELOADING=1")
    reloaded = notify.wait_for(has("READY", "1"), 10, "READY=1 after the reload")
    assert reloaded.fields.get("STATUS") == "configuration reloaded"
    daemon.wait_for_log(r"^<6>monitor\.daemon: configuration reloaded from ", 10)

    # SIGHUP with an invalid config: refused loudly, naming the key; the old config keeps running.
    setup.config.write_text(
        setup.config.read_text(encoding="utf-8").replace('warning = "9d"', 'warning = "soon"'),
        encoding="utf-8",
    )
    daemon.signal(signal.SIGHUP)
    notify.wait_for(has("RELOADING", "1"), 10, "RELOADING=1")
    refused = notify.wait_for(has("READY", "1"), 10, "READY=1 after the refused reload")
    assert "reload refused" in refused.fields.get("STATUS", "")
    daemon.wait_for_log(
        r"^<3>monitor\.daemon: reload refused, still running on the previous configuration", 10
    )
    daemon.wait_for_log(r"^<3>.*alerts\.expiry\.warning", 10)

    # Still running and still sweeping: the token that expires soon is inspected again after the refusal.
    soon = setup.tokens[-1]
    before = sim.calls(soon)
    notify.wait_for(
        lambda m: sim.calls(soon) > before and has("STATUS", "last sweep inspected 1 token(s)")(m),
        10,
        "another sweep after the refused reload",
    )
    assert daemon.alive()
    notify.wait_for(has("WATCHDOG", "1"), 10, "a watchdog ping after the refused reload")

    sigterm_exits_cleanly(daemon, notify)

    # journald: every line starts with a syslog priority and carries no timestamp of its own.
    lines = [line for line in daemon.text().splitlines() if line]
    assert lines
    assert all(re.match(r"<[0-7]>", line) for line in lines), lines
    assert not any(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", line) for line in lines), lines
    assert "<6>monitor.daemon: stopped" in lines


def test_hung_sweep_starves_the_watchdog_and_sigterm_still_stops(
    tmp_path: Path, sim: Simulator, notify: NotifySocket, spawn: Callable[..., Daemon]
) -> None:
    setup = prepare(tmp_path, sim, tokens=4)
    # Every call hangs until threads.timeout (60 s) cuts it: far beyond STOP_DEADLINE, so a stop that waited
    # for the calls in flight could not pass.
    sim.set_fault("latency", seconds=120)
    daemon = spawn(setup, notify)

    daemon.wait_ready(notify)
    # The stall is established once the daemon withholds a ping: from then on, pings sent earlier can only
    # be queued, not new.
    daemon.wait_for_log(
        r"ERROR monitor\.daemon: sweep made no progress for 1 s: withholding the watchdog ping", 10
    )
    assert sim.calls() >= 1  # a check is stuck in flight
    notify.drain()
    window = notify.during(3 * INTERVAL)
    assert pings(window) == [], "WATCHDOG=1 while the sweep made no progress"
    assert daemon.alive()

    # systemd would have restarted it by now; a plain stop must not hang on the stuck calls either.
    sigterm_exits_cleanly(daemon, notify)
    assert re.search(r"^\S+Z INFO monitor\.daemon: stopped$", daemon.text(), re.MULTILINE), daemon.text()
