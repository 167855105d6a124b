"""sd_notify client against real unix datagram sockets (logging: test_logs.py)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.daemon.sdnotify import SdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def _receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_sends_one_datagram_with_status(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SdNotifier(path)

    assert notifier.enabled
    assert notifier.ready("checking 3 tokens") is True
    assert _receive(sock) == ["READY=1", "STATUS=checking 3 tokens"]


def test_helpers_send_their_fields(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SdNotifier(path)

    assert notifier.status("line one\nline two")
    assert _receive(sock) == ["STATUS=line one line two"]
    assert notifier.watchdog()
    assert _receive(sock) == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert _receive(sock) == ["STOPPING=1"]
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading("reloading configuration")
    fields = _receive(sock)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert fields[0] == "RELOADING=1"
    key, _, value = fields[1].partition("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after
    assert fields[2] == "STATUS=reloading configuration"


def test_socket_path_defaults_to_notify_socket(
    listener: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)

    assert SdNotifier().notify("READY=1", "STATUS=ok")
    assert _receive(sock) == ["READY=1", "STATUS=ok"]


def test_abstract_socket() -> None:
    name = f"threads-token-monitor-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert SdNotifier("@" + name).watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_no_socket_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SdNotifier()

    assert not notifier.enabled
    assert notifier.ready("ok") is False
    assert notifier.watchdog() is False


def test_failure_returns_false_and_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SdNotifier(str(tmp_path / "missing.sock"))

    with caplog.at_level(logging.WARNING, logger="monitor.daemon.sdnotify"):
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
        assert SdNotifier("relative/socket").ready() is False

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "missing.sock" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert SdNotifier("/run/unused", environ=env).watchdog_interval() == expected
