"""Reading a file named by the config or a command: bounded, and never blocking on a FIFO."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class TooLarge(Exception):
    """A file holds more than the reader's cap (a device such as /dev/zero, a log, a wrong path)."""


def read_bounded(path: Path, cap: int) -> bytes:
    """At most `cap` bytes of `path`, or TooLarge; OSError as reading raises it (a directory: EISDIR).

    Opened without blocking, so a FIFO nobody writes to reads as empty instead of hanging the daemon."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        chunks, size = [], 0
        while size <= cap and (chunk := os.read(fd, min(65536, cap + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:
        raise TooLarge(f"larger than {cap} bytes")
    return b"".join(chunks)
