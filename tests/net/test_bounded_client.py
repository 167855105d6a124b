"""monitor.net.client against real hostile servers on 127.0.0.1: trickled headers, trickled body, huge body.

No assertion is about how long anything took: a trickling peer would hold a per-read timeout forever, so a
call that returns at all (with DeadlineExceeded) is the proof; the server keeps trickling for far longer
than the deadline, and a call that ignored the deadline would hit pytest's own timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.net import BoundedSession, DeadlineExceeded, TooLarge

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """A listening socket whose every connection is handled by `serve(conn, stop)` on its own thread."""

    def __init__(self, serve: Callable[[socket.socket, threading.Event], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.serve = serve
        self.connections = 0
        self.heads: list[bytes] = []  # the first read of each connection: its request head
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            self.heads.append(conn.recv(65536))
            with contextlib.suppress(OSError):  # the client cut the connection: what the test wants
                self.serve(conn, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def trickle(data: bytes) -> Callable[[socket.socket, threading.Event], None]:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        for byte in data:
            if stop.wait(0.2):  # one byte every 0.2 s: 600 bytes take two minutes
                return
            conn.sendall(bytes([byte]))

    return serve


@pytest.fixture
def client() -> Iterator[BoundedSession]:
    session = BoundedSession()
    yield session
    session.close()


@pytest.fixture
def servers() -> Iterator[list[RawServer]]:
    made: list[RawServer] = []
    yield made
    for server in made:
        server.close()


def test_an_honest_peer_answers(client: BoundedSession, servers: list[RawServer]) -> None:
    servers.append(RawServer(lambda conn, stop: conn.sendall(OK)))
    reply = client.request("POST", servers[0].url, deadline=5, max_bytes=1024, data=b"{}")
    assert (reply.status, reply.body) == (200, b"ok")


def test_headers_trickled_byte_by_byte_end_at_the_deadline(
    client: BoundedSession, servers: list[RawServer]
) -> None:
    servers.append(RawServer(trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 600 + b"\r\n\r\n")))
    with pytest.raises(DeadlineExceeded):
        client.request("POST", servers[0].url, deadline=1.0, max_bytes=1024, data=b"{}")


def test_a_body_trickled_byte_by_byte_ends_at_the_deadline(
    client: BoundedSession, servers: list[RawServer]
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n"
    servers.append(RawServer(lambda conn, stop: (conn.sendall(head), trickle(b"b" * 600)(conn, stop))))
    with pytest.raises(DeadlineExceeded):
        client.request("GET", servers[0].url, deadline=1.0, max_bytes=1024)


def test_a_huge_body_is_refused_by_length_and_by_count(
    client: BoundedSession, servers: list[RawServer]
) -> None:
    declared = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"
    servers.append(RawServer(lambda conn, stop: conn.sendall(declared + b"x" * 1000)))
    with pytest.raises(TooLarge):
        client.request("GET", servers[0].url, deadline=5, max_bytes=4096)
    undeclared = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 200_000
    servers.append(RawServer(lambda conn, stop: conn.sendall(undeclared)))
    with pytest.raises(TooLarge):
        client.request("GET", servers[1].url, deadline=5, max_bytes=4096)


def test_the_pool_recovers_after_a_cut_connection(client: BoundedSession, servers: list[RawServer]) -> None:
    calls = iter([trickle(b"HTTP/1.1 200 OK\r\n" + b"a" * 600), None])

    def serve(conn: socket.socket, stop: threading.Event) -> None:
        step = next(calls, None)
        if step is None:
            conn.sendall(OK)
        else:
            step(conn, stop)

    servers.append(RawServer(serve))
    with pytest.raises(DeadlineExceeded):
        client.request("GET", servers[0].url, deadline=1.0, max_bytes=1024)
    assert client.request("GET", servers[0].url, deadline=5, max_bytes=1024).body == b"ok"


# Connection: close, so that no call reuses a connection the server has closed
CLOSING_OK = OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")


def test_the_environments_proxy_and_no_proxy_are_honoured_once_read(
    servers: list[RawServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HTTP_PROXY and NO_PROXY work as they do for requests (read once per origin, not per call), and a
    ~/.netrc entry for the host never adds a password to the call."""
    servers += [RawServer(lambda conn, stop: conn.sendall(CLOSING_OK)) for _ in range(2)]
    proxy, direct = servers
    proxy_port = proxy.sock.getsockname()[1]
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login someone password hunter2-netrc\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    session = BoundedSession(pool_size=1)
    try:
        for _ in range(2):
            assert session.request("GET", "http://proxied.invalid/a", deadline=5, max_bytes=10).body == b"ok"
        assert session.request("GET", direct.url, deadline=5, max_bytes=10).body == b"ok"
    finally:
        session.close()
    assert [h.split(b"\r\n", 1)[0] for h in proxy.heads] == [b"GET http://proxied.invalid/a HTTP/1.1"] * 2
    assert [h.split(b"\r\n", 1)[0] for h in direct.heads] == [b"GET /hook HTTP/1.1"]
    assert not any(b"authorization" in h.lower() for h in proxy.heads + direct.heads)
    monkeypatch.setenv("NO_PROXY", "")  # read once: a session made now goes through the proxy for 127.0.0.1
    later = BoundedSession(pool_size=1)
    try:
        assert later.request("GET", direct.url, deadline=5, max_bytes=10).body == b"ok"
    finally:
        later.close()
    assert len(direct.heads) == 1 and proxy.heads[-1].startswith(f"GET {direct.url} ".encode())
