"""One client connection of monitor.httpd: reads bounded by a total deadline, the TLS handshake likewise,
and the ways a connection ends (a last best-effort answer, a lingering close)."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time

from monitor.httpd.messages import RequestRefused, Response

__all__ = ["Conn", "handshake", "linger", "send_now"]


class Conn:
    """A client socket and its read buffer; every read is bounded by the request's total deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, bytearray()

    def fill(self, deadline: float) -> None:
        try:
            self.sock.settimeout(max(deadline - time.monotonic(), 1e-6))
            data = self.sock.recv(65536)
        except TimeoutError:
            raise RequestRefused(408) from None
        if not data:
            raise RequestRefused(None)
        self.buf += data

    def take(self, size: int, skip: int = 0) -> bytes:
        data = bytes(self.buf[:size])
        del self.buf[: size + skip]
        return data

    def head(self, deadline: float, cap: int) -> bytes:
        while True:
            while self.buf[:2] == b"\r\n":  # RFC 9112 2.2: empty lines before a request line are ignored
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end > cap or (end < 0 and len(self.buf) > cap):
                raise RequestRefused(431)
            if end >= 0:
                return self.take(end, skip=4)
            self.fill(deadline)

    def body(self, size: int, deadline: float) -> bytes:
        while len(self.buf) < size:
            self.fill(deadline)
        return self.take(size)

    def next_request(self, idle_timeout: float) -> bool:
        """Wait for the next request's first byte; False if the client leaves or stays silent."""
        with contextlib.suppress(RequestRefused):  # silence or a hang-up: either way, no next request
            if not self.buf:
                self.fill(time.monotonic() + idle_timeout)
        return bool(self.buf)


def handshake(sock: ssl.SSLSocket, deadline: float) -> None:
    """The TLS handshake, non-blocking, so the whole of it (not each read) is bounded by `deadline`."""
    sock.setblocking(False)
    while True:
        try:
            sock.do_handshake()
            return sock.setblocking(True)
        except ssl.SSLWantReadError:
            events = select.POLLIN
        except ssl.SSLWantWriteError:
            events = select.POLLOUT
        poller = select.poll()
        poller.register(sock, events)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            raise RequestRefused(None)


def linger(sock: socket.socket, seconds: float = 2.0, max_bytes: int = 1 << 20) -> None:
    """Half-close, then drop what the client still sends for a moment: closing with unread input sends a
    reset, which can destroy an answer (413, 400) given before the client finished sending its body."""
    with contextlib.suppress(OSError):  # a reset or a timeout ends the lingering, which is all it is for
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        while max_bytes > 0 and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            if not (data := sock.recv(65536)):
                return
            max_bytes -= len(data)


def send_now(sock: socket.socket, response: Response) -> None:
    """Best effort, never blocking: for a refusal whose connection closes right after."""
    with contextlib.suppress(OSError):  # the client may be gone already; there is nobody left to tell
        sock.setblocking(False)
        sock.send(response.encode(close=True))
