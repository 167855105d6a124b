"""monitor.httpd's bounds for a listener that faces the internet, with real sockets on 127.0.0.1: a share of
the connection slots per client, a deadline for the head shorter than the request's, and a connection closed
after a refusal. Client addresses differ by source address (127.0.0.2 is as local as 127.0.0.1).

No duration is asserted: a bound that fails shows as a read that outlasts GUARD.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from support import wait_until
from test_httpd import GUARD, ROUTES, get, read_to_end, statuses

from monitor.httpd import HttpServer, Limits
from monitor.httpd.clients import client_key


@pytest.fixture
def serve() -> Iterator[Callable[..., HttpServer]]:
    servers: list[HttpServer] = []

    def start(limits: Limits) -> HttpServer:
        servers.append(HttpServer(ROUTES, limits=limits))
        servers[-1].start()
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def connect_from(server: HttpServer, source: str, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(server.address, timeout=GUARD, source_address=(source, 0))
    if data:
        sock.sendall(data)
    return sock


def test_one_client_cannot_take_every_slot(serve: Callable[..., HttpServer]) -> None:
    """A client holding its share gets 503 for one more connection; another client is still served."""
    limits = Limits(max_connections=8, max_connections_per_client=3, request_deadline=60.0, idle_timeout=60.0)
    server = serve(limits=limits)
    hogs = [connect_from(server, "127.0.0.1", b"GET /hello HTTP/1.1\r\n") for _ in range(3)]
    wait_until(lambda: server.active_connections == 3, GUARD, "the first client's connections")
    assert statuses(read_to_end(connect_from(server, "127.0.0.1", get("/hello")))) == [503]
    other = read_to_end(connect_from(server, "127.0.0.2", get("/hello", "Connection: close")))
    assert statuses(other) == [200]
    hogs.pop().close()
    wait_until(lambda: server.active_connections == 2, GUARD, "a slot of the first client to free up")
    again = read_to_end(connect_from(server, "127.0.0.1", get("/hello", "Connection: close")))
    assert statuses(again) == [200]
    for sock in hogs:
        sock.close()


def test_a_slow_head_is_cut_at_the_head_deadline(serve: Callable[..., HttpServer]) -> None:
    """The head has a deadline of its own, shorter than the request's: a trickled head ends in 408 long
    before the request deadline (60 s, beyond GUARD, so only the head deadline can end the wait)."""
    server = serve(limits=Limits(request_deadline=60.0, head_deadline=0.5, idle_timeout=60.0))
    slow = connect_from(server, "127.0.0.1", b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Trickle: ")
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.05):
            try:
                slow.send(b"a")
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    try:
        assert statuses(read_to_end(slow)) == [408]
    finally:
        stop.set()


def test_a_body_still_has_the_request_deadline(serve: Callable[..., HttpServer]) -> None:
    """A head in time and then a body that arrives slowly is answered: the head deadline is the head's."""
    server = serve(limits=Limits(request_deadline=60.0, head_deadline=0.5))
    sock = connect_from(server, "127.0.0.1", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
    pace = threading.Event()
    for byte in b"ping":  # paced by the client, a byte every 0.25 s: the last one after the head deadline
        pace.wait(0.25)
        sock.send(bytes([byte]))
    sock.shutdown(socket.SHUT_WR)
    assert read_to_end(sock).endswith(b"ping")


@pytest.mark.parametrize("close_after_error", [True, False])
def test_a_refused_request_ends_its_connection(
    serve: Callable[..., HttpServer], close_after_error: bool
) -> None:
    server = serve(limits=Limits(close_after_error=close_after_error, idle_timeout=60.0))
    sock = connect_from(server, "127.0.0.1", get("/nowhere"))
    if close_after_error:
        answer = read_to_end(sock)  # the server closes: no wait for the idle timeout
        assert statuses(answer) == [404] and b"Connection: close" in answer
    else:
        sock.settimeout(GUARD)
        first = sock.recv(65536)
        assert statuses(first) == [404] and b"Connection: close" not in first
        sock.sendall(get("/hello", "Connection: close"))
        assert statuses(read_to_end(sock)) == [200]


def test_client_keys() -> None:
    assert client_key(("203.0.113.7", 51000)) == "203.0.113.7"
    assert client_key(("::ffff:203.0.113.7", 51000, 0, 0)) == "203.0.113.7"
    assert client_key(("2001:db8:1:2:3:4:5:6", 443, 0, 0)) == "2001:db8:1:2::/64"
    assert client_key(("2001:db8:1:2:ffff::1", 443, 0, 0)) == "2001:db8:1:2::/64"
    assert client_key("") == ""
