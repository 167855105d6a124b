"""`threads-token-monitor demo`: run as a user would, it prints an alert within 30 s, serves metrics, and
stops cleanly (exit 0, temporary folder gone) on SIGINT and SIGTERM.

`DemoRun` is shared with test_statuspage_browser.py: it starts the demo on a free port and reads its output
on a thread, so every wait is a deadline-bounded poll of the output or of the endpoint, never a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import free_port

from monitor.config.load import Config
from monitor.demo import APPS, TOKENS, build_config, resolve_port

ROOT = Path(__file__).resolve().parent.parent
ALERT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ FIRING (warning|critical) [A-Za-z]+ ")
FIRST_ALERT_WITHIN = 30.0


class DemoRun:
    """The demo as a subprocess on 127.0.0.1:<free port>; stdout is collected line by line."""

    def __init__(self, cwd: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", "--listen", f"127.0.0.1:{self.port}"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.stderr = ""
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: re.Pattern[str], within: float) -> str:
        """The first stdout line matching `pattern`, waiting at most `within` seconds."""
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                found = next((line for line in self.lines if pattern.search(line)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"no line matching {pattern.pattern!r} within {within:.0f} s (exit "
                        f"{self.proc.poll()}):\n{self.output_unlocked()}\n{self.stderr}"
                    )
                self._changed.wait(min(left, 0.5))

    def output_unlocked(self) -> str:
        return "\n".join(self.lines)

    def get(self, path: str, within: float, ready: Callable[[int, str], bool]) -> str:
        """GET `path` until `ready(status, body)` holds; polls with a short timeout until the deadline."""
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the demo exited early:\n{self.output}\n{self.stderr}"
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as resp:
                    status, body = resp.status, resp.read().decode()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read().decode(errors="replace")
            except OSError as exc:  # not listening yet
                last = repr(exc)
                with self._changed:
                    self._changed.wait(0.2)  # woken early by new output; bounded either way
                continue
            if ready(status, body):
                return body
            last = f"HTTP {status}: {body[:300]}"
            with self._changed:
                self._changed.wait(0.2)
        raise AssertionError(f"GET {path} not ready within {within:.0f} s ({last})\n{self.output}")

    def stop(self, signum: int = signal.SIGINT, within: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=within)
        finally:
            for reader in self._readers:
                reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    run = DemoRun(cwd=tmp_path)
    try:
        yield run
    finally:
        run.kill()


def temp_folder(output: str) -> Path:
    match = re.search(r"^\s*database\s+(\S+)/demo\.sqlite3", output, re.MULTILINE)
    assert match, output
    return Path(match.group(1))


def pasted_in_a_new_terminal(output: str) -> None:
    """The banner's "try" commands, pasted into a shell whose PATH has no virtualenv in it (a new terminal),
    work: the program is named by its absolute path."""
    match = re.search(r"^  try\s+(.+)\n\s+(curl .+)$", output, re.MULTILINE)
    assert match, output
    program = match.group(1).split()[0]
    assert Path(program).is_absolute(), match.group(1)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), "NO_COLOR": "1"}
    done = subprocess.run(["/bin/sh", "-c", match.group(1)], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all(token.name in done.stdout for token in TOKENS), done.stdout
    assert match.group(2).startswith("curl -s http://127.0.0.1:")


def test_demo_alerts_within_30_s_serves_metrics_and_stops_on_sigint(demo: DemoRun) -> None:
    first = demo.wait_for_line(ALERT_LINE, within=FIRST_ALERT_WITHIN)
    assert any(name in first for name in ("InspectorInvalid", "TokenExpiring", "TokenInvalid",
                                          "TokenDataAccessExpiring"))  # fmt: skip
    body = demo.get("/metrics", within=20, ready=lambda status, text: status == 200
                    and "threads_token_expires_at_timestamp_seconds{" in text)  # fmt: skip
    assert re.search(r'threads_token_expires_at_timestamp_seconds\{[^}]*token="globex"', body), body
    assert 'threads_token_valid{app="growth",token="hooli"} 0.0' in body or re.search(
        r'threads_token_valid\{[^}]*token="hooli"[^}]*\} 0', body
    )
    assert "STATE" in demo.output  # the live status table was printed
    pasted_in_a_new_terminal(demo.output)
    folder = temp_folder(demo.output)
    assert folder.exists()
    assert demo.stop(signal.SIGINT) == 0, demo.stderr
    assert not folder.exists(), "the temporary folder must be removed on exit"
    assert "Traceback" not in demo.stderr, demo.stderr


def test_demo_stops_cleanly_on_sigterm(demo: DemoRun) -> None:
    demo.wait_for_line(re.compile(r"^NAME\s+APP\s+STATE"), within=FIRST_ALERT_WITHIN)
    folder = temp_folder(demo.output)
    assert demo.stop(signal.SIGTERM) == 0, demo.stderr
    assert not folder.exists()
    assert "Traceback" not in demo.stderr, demo.stderr


def test_demo_refuses_a_bad_listen_address(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "monitor", "demo", "--listen", "nowhere"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


# ---------------------------------------------------------------------------------------------- in-process


def test_demo_config_is_fast_and_uses_the_console(tmp_path: Path) -> None:
    config: Config = build_config(tmp_path, "http://127.0.0.1:1", "127.0.0.1:9469")
    assert config.threads.base_url == "http://127.0.0.1:1"
    assert config.schedule.sweep_interval == 2 and config.schedule.min_check_interval == 10
    assert config.alerts.group_wait == 2
    assert [n.type for n in config.notifiers] == ["console"]
    assert config.http.listen == "127.0.0.1:9469"
    assert config.database.url == f"sqlite:///{tmp_path / 'demo.sqlite3'}"


def test_demo_tokens_tell_the_stories_the_readme_promises() -> None:
    stories = " ".join(t.story for t in TOKENS)
    for alert in ("TokenExpiring", "TokenDataAccessExpiring", "TokenInvalid", "InspectorInvalid",
                  "TokenCheckFailing"):  # fmt: skip
        assert alert in stories
    assert any(t.throttle for t in TOKENS) and any(t.auto_refresh for t in TOKENS)
    assert {a.sim_state for a in APPS} >= {"ok", "dev_mode"}
    assert len({t.name for t in TOKENS}) == len(TOKENS)


def test_resolve_port_picks_a_free_port() -> None:
    assert resolve_port("127.0.0.1:9469") == "127.0.0.1:9469"
    host, _, port = resolve_port("127.0.0.1:0").rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
