"""Fixtures of the reliability suite: the real daemon process, its endpoint, receivers, and the secrets scan.

Every test here gets `evidence` (autouse): whatever the test produced — daemon logs and output (files under
tmp_path), webhook payloads and SMTP messages, /metrics scrapes, dumps of every non-encrypted database column
— is scanned when the test ends, and a registered token or inspector string anywhere fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers_daemon import SECRETS, DaemonProcess, Fleet, make_fleet
from prometheus_client.parser import text_string_to_metric_families
from receivers import HttpReceiver, SmtpReceiver
from sqlalchemy import MetaData, create_engine, select
from support import free_port, wait_until

from monitor.simulator import Simulator

# Columns holding Fernet ciphertext: the only ones a dump leaves out.
ENCRYPTED = {("tokens", "secret"), ("apps", "inspector_secret"), ("apps", "callback_secret")}
NOT_SCANNED = (".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".key")  # databases are scanned as dumps


def dump_database(url: str) -> str:
    """Every row of every table, all columns except the encrypted ones, as text."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        lines = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                cols = [c for c in table.columns if (table.name, c.name) not in ENCRYPTED]
                for row in conn.execute(select(*cols)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
        return "\n".join(lines)
    finally:
        engine.dispose()


@dataclass
class Evidence:
    """What one test produced, for the secrets scan."""

    root: Path
    texts: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, text: str | bytes) -> None:
        value = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        self.texts[f"{label}#{len(self.texts)}"] = value

    def dump(self, url: str) -> str:
        text = dump_database(url)
        self.add(f"database dump of {url.rsplit('/', 1)[-1]}", text)
        return text

    def files(self) -> dict[str, str]:
        out = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(NOT_SCANNED) and path.stat().st_size < 50_000_000:
                out[str(path.relative_to(self.root))] = path.read_bytes().decode("utf-8", "replace")
        return out

    def leaks(self) -> dict[str, list[str]]:
        """Where each leaked secret (shown by its first 12 characters) appears."""
        found: dict[str, list[str]] = {}
        for where, text in {**self.texts, **self.files()}.items():
            hits = sorted(s[:12] + "..." for s in SECRETS if s in text)
            if hits:
                found[where] = hits
        return found


@pytest.fixture(autouse=True)
def evidence(tmp_path: Path) -> Iterator[Evidence]:
    ev = Evidence(tmp_path)
    yield ev
    assert ev.leaks() == {}, "a registered token or inspector string appeared in the output"


# --- the daemon ----------------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, type(exc).__name__


def sample(metrics_text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(s.value)
    return None


class Monitor:
    """`python -m monitor --config CFG run` as a child process, plus its HTTP endpoint."""

    def __init__(self, config_path: Path, log_path: Path, port: int, evidence: Evidence) -> None:
        self.process = DaemonProcess(config_path, log_path)
        self.base = f"http://127.0.0.1:{port}"
        self.evidence = evidence

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.proc.poll() is None

    def output(self) -> str:
        return self.process.output()

    def healthz(self) -> int:
        return http_get(self.base + "/healthz", timeout=10)[0]

    def metrics(self) -> str:
        status, body = http_get(self.base + "/metrics", timeout=10)
        assert status == 200, f"/metrics answered {status}"
        self.evidence.add("metrics scrape", body)
        return body

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(lambda: self.healthz() == 200 or not self.alive(), timeout, "the daemon to serve /healthz")
        assert self.alive(), f"the daemon exited at start:\n{self.output()[-3000:]}"

    def stop(self, signum: int | None = None, timeout: float = 20.0) -> int:
        return (
            self.process.stop(signum, timeout) if signum is not None else self.process.stop(timeout=timeout)
        )


@pytest.fixture
def start_monitor(tmp_path: Path, evidence: Evidence) -> Iterator[Callable[..., Monitor]]:
    """start_monitor(fleet, name="daemon") -> a running Monitor; every one is stopped at the end."""
    started: list[Monitor] = []

    def start(fleet: Fleet, name: str = "daemon", *, ready: bool = True) -> Monitor:
        m = Monitor(fleet.config_path, tmp_path / f"{name}.log", fleet.config.http.port, evidence)
        started.append(m)
        if ready:
            m.wait_ready()
        return m

    yield start
    for m in started:
        m.stop()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def fleets(tmp_path: Path, evidence: Evidence) -> Iterator[Callable[..., Fleet]]:
    """fleets(db_url, sim, **sections) -> a migrated registry, its database dumped for the scan at the end."""
    made: list[Fleet] = []

    def make(db_url: str, sim: Any, **sections: dict[str, Any]) -> Fleet:
        f = make_fleet(tmp_path, db_url, sim, **sections)
        made.append(f)
        return f

    yield make
    for f in made:
        try:
            evidence.dump(f.config.database.url)
        finally:
            f.close()


def with_notifiers(fleet: Fleet, notifiers_toml: str, group_wait: str = "1s") -> None:
    """Append `[[notifiers]]` tables (TOML text) and an [alerts] group_wait to the fleet's config file."""
    text = fleet.config_path.read_text(encoding="utf-8")
    text += f'\n[alerts]\ngroup_wait = "{group_wait}"\n\n{notifiers_toml}'
    fleet.config_path.write_text(text, encoding="utf-8")


# --- a simulator in another process ---------------------------------------------------------------------


class ExternalSimulator:
    """`python -m monitor.simulator --port 0 --tokens FILE --port-file PATH`, driven by /__sim/..."""

    def __init__(self, tmp_path: Path, doc: dict[str, Any]) -> None:
        spec, self._port_file = tmp_path / "sim-tokens.json", tmp_path / "sim.port"
        spec.write_text(json.dumps(doc), encoding="utf-8")
        self._log = open(tmp_path / "simulator.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.simulator", "--port", "0", "--tokens", str(spec),
             "--port-file", str(self._port_file)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._port_file.exists, 20, "the simulator to write its port")
        self.url = f"http://127.0.0.1:{self._port_file.read_text().strip()}"
        spec.unlink()  # it holds token strings; they now live in the simulator's memory only

    def control(self, action: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/__sim/{action}" + (f"?{query}" if query else ""))
        assert status == 200, f"/__sim/{action} answered {status}: {body}"
        return dict(json.loads(body))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


# --- receivers -----------------------------------------------------------------------------------------


@pytest.fixture
def hook(evidence: Evidence) -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r
    for req in r.requests.items:
        evidence.add("webhook request", f"{req.path} {req.headers!r}\n" + req.body.decode("utf-8", "replace"))


class FixedPortReceiver(HttpReceiver):
    """An HttpReceiver on a port chosen in advance (so it can be "down" first), with per-answer delays."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._handler = self.server.RequestHandlerClass
        self.server.server_close()  # nothing listens on `port` until __enter__: the receiver is down
        self.port = port
        self.delays: deque[float] = deque()
        self.arrivals: list[float] = []  # time.time() of every request, in order

    def __enter__(self) -> FixedPortReceiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        return self

    def delay(self, *seconds: float) -> None:
        """Hold the next answers this long each (a slow receiver)."""
        self.delays.extend(seconds)

    def next_response(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.arrivals.append(time.time())
            pause = self.delays.popleft() if self.delays else 0.0
        if pause:
            time.sleep(pause)  # the slow receiver itself, not a wait in a test
        return super().next_response()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp(tmp_path: Path, smtp_port: int, evidence: Evidence) -> Iterator[SmtpReceiver]:
    """An SMTP receiver on a port fixed in advance, NOT started: a test starts it when the server is "up"."""
    receiver = SmtpReceiver(tmp_path)
    receiver.controller.port = smtp_port
    yield receiver
    if receiver.controller._thread is not None:  # started
        receiver.controller.stop()
    for m in receiver.messages.items:
        evidence.add("smtp message", m.raw)


def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """wait_until with a poll interval that suits database queries."""
    return wait_until(predicate, timeout, what, every=0.1)
