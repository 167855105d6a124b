"""A dependency-free sd_notify(3) client (the journald-aware logging set-up is in daemon/logs.py).

systemd starts the daemon with `Type=notify`: it waits for READY=1, shows STATUS= in `systemctl status`,
expects WATCHDOG=1 pings while `WatchdogSec=` is set, and reads RELOADING=1/STOPPING=1 around SIGHUP and
shutdown. Outside systemd ($NOTIFY_SOCKET unset) every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

__all__ = ["SdNotifier"]


class SdNotifier:
    """Sends state changes to the service manager over $NOTIFY_SOCKET; never raises."""

    def __init__(self, socket_path: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        path = socket_path if socket_path is not None else self._environ.get("NOTIFY_SOCKET")
        self._path: str | None = path or None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when a notification socket is known (the process runs under systemd Type=notify)."""
        return self._path is not None

    def notify(self, *fields: str) -> bool:
        """Send `fields` ("KEY=value") as one newline-joined datagram.

        Returns True when the datagram was sent; False when there is no socket or sending failed (logged
        once per notifier at WARNING, so a broken socket cannot flood the journal).
        """
        if self._path is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, _address(self._path))
        except (OSError, ValueError) as exc:
            if not self._warned:
                self._warned = True
                log.warning("sd_notify to %s failed: %s", self._path, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd that start-up finished (READY=1), optionally with a status line."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """Set the free-form status line shown by `systemctl status`."""
        return self.notify(_status_field(text))

    def watchdog(self) -> bool:
        """Ping the watchdog (WATCHDOG=1); call it only when the daemon made progress."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Announce an orderly shutdown (STOPPING=1)."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def reloading(self, status: str | None = None) -> bool:
        """Announce a reload (RELOADING=1 with MONOTONIC_USEC); send ready() again once it is done."""
        fields = ["RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds ($WATCHDOG_USEC), or None when no watchdog is armed for us.

        $WATCHDOG_PID, when set, must name this process: a child that inherited the environment must not
        ping on its parent's behalf. Ping at most every half of the returned interval.
        """
        usec = self._environ.get("WATCHDOG_USEC", "")
        pid = self._environ.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            return None
        try:
            value = int(usec)
        except ValueError:
            return None
        return value / 1_000_000 if value > 0 else None


def _address(path: str) -> str | bytes:
    # "@name" is an abstract socket: the kernel wants a leading NUL byte instead of the "@".
    if path.startswith("@"):
        return b"\0" + path[1:].encode("utf-8")
    if not path.startswith("/"):
        raise ValueError(f"unsupported NOTIFY_SOCKET address {path!r}")
    return path


def _status_field(text: str) -> str:
    # A newline would start a new KEY=value assignment inside the datagram.
    return "STATUS=" + " ".join(text.splitlines())
