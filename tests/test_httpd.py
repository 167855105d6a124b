"""monitor.httpd against real sockets on 127.0.0.1: every bound it promises, seen from a client.

Nothing here asserts a duration: a slow client is paced by the test, and every wait is a condition with a
deadline (a socket timeout or `wait_until`), so a loaded machine makes a test slower, never wrong.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from receivers import make_self_signed
from support import wait_until

from monitor.httpd import HttpServer, Limits, Request, Response, Route, accept_backoff

GUARD = 15.0  # seconds: the most any single wait here may take before the test fails


def hello(request: Request) -> Response:
    return Response.text(200, f"hello {request.params.get('name', 'world')}")


def echo(request: Request) -> Response:
    return Response(200, request.body, "application/octet-stream")


def boom(request: Request) -> Response:
    raise RuntimeError("the handler broke")


ROUTES = [
    Route("GET", "/hello", hello),
    Route("GET", "/hello/{name}", hello),
    Route("POST", "/echo", echo, max_body=16),
    Route("POST", "/small", echo, max_body=16, on_oversized=lambda r: Response.text(400, "refused")),
    Route("GET", "/boom", boom),
    Route("GET", "/bad-header", lambda r: Response(200, headers={"X-Evil": "a\r\nSet-Cookie: b"})),
]


@pytest.fixture
def serve() -> Iterator[Callable[..., HttpServer]]:
    """Start an HttpServer on 127.0.0.1 port 0 (stopped after the test)."""
    servers: list[HttpServer] = []

    def start(routes: list[Route] | None = None, **kwargs: object) -> HttpServer:
        server = HttpServer(ROUTES if routes is None else routes, **kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def connect(server: HttpServer, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(server.address, timeout=GUARD)
    if data:
        sock.sendall(data)
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    sock.close()
    return b"".join(chunks)


def statuses(data: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"^HTTP/1\.1 (\d{3}) ", data, re.MULTILINE)]


def get(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: test", *extra, "", ""]).encode()


def test_routes_params_keep_alive_and_head(serve: Callable[..., HttpServer]) -> None:
    server = serve()
    with requests.Session() as session:
        assert session.get(f"{server.url}/hello", timeout=GUARD).text == "hello world\n"
        answer = session.get(f"{server.url}/hello/ada%20l", timeout=GUARD)
        assert answer.text == "hello ada l\n"
        assert answer.headers["Cache-Control"] == "no-store"
        assert session.head(f"{server.url}/hello", timeout=GUARD).content == b""
        assert session.get(f"{server.url}/nowhere", timeout=GUARD).status_code == 404
        refused = session.get(f"{server.url}/echo", timeout=GUARD)
        assert (refused.status_code, refused.headers["Allow"]) == (405, "POST")
    assert Limits().backlog >= 128


def test_slowloris_is_cut_at_the_total_deadline_while_others_are_served(
    serve: Callable[..., HttpServer],
) -> None:
    server = serve(limits=Limits(request_deadline=2.0, idle_timeout=60.0))
    slow = connect(server, b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Trickle: ")
    stop, sent = threading.Event(), [0]

    def trickle() -> None:  # one byte every 50 ms: a per-read timeout would never fire
        while not stop.wait(0.05):
            try:
                slow.send(b"a")
            except OSError:
                return
            sent[0] += 1

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    wait_until(lambda: sent[0] >= 3, GUARD, "the slow client to trickle")
    events: list[str] = []
    assert requests.get(f"{server.url}/hello", timeout=GUARD).status_code == 200
    events.append("normal client answered")
    cut = read_to_end(slow)
    events.append("slow client cut off")
    stop.set()
    trickler.join(GUARD)
    assert events == ["normal client answered", "slow client cut off"]
    assert statuses(cut) == [408]
    assert sent[0] > 3  # it was still trickling when cut off


def test_connection_cap_refuses_without_a_thread(serve: Callable[..., HttpServer]) -> None:
    server = serve(limits=Limits(max_connections=2, request_deadline=60.0))
    holders = [connect(server, b"GET /hello HTTP/1.1\r\n") for _ in range(2)]
    wait_until(lambda: server.active_connections == 2, GUARD, "two connections held")
    assert statuses(read_to_end(connect(server))) == [503]
    workers = [t for t in threading.enumerate() if t.name.startswith("http-worker")]
    assert len(workers) <= 2
    holders.pop().close()
    wait_until(lambda: server.active_connections == 1, GUARD, "a slot to free up")
    assert requests.get(f"{server.url}/hello", timeout=GUARD).status_code == 200
    holders.pop().close()


def test_oversized_body_is_refused_unread(serve: Callable[..., HttpServer]) -> None:
    server = serve()
    head = b"POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: 100000000\r\n\r\n"
    # No body is sent at all: an answer proves the server did not wait to read it.
    answer = read_to_end(connect(server, head % b"/echo"))
    assert statuses(answer) == [413] and b"Connection: close" in answer
    assert statuses(read_to_end(connect(server, head % b"/small"))) == [400]
    fits = requests.post(f"{server.url}/echo", data=b"0123456789abcdef", timeout=GUARD)
    assert fits.content == b"0123456789abcdef"


def test_get_with_a_body_does_not_desync_the_next_request(serve: Callable[..., HttpServer]) -> None:
    server = serve()
    first = b"GET /hello HTTP/1.1\r\nHost: test\r\nContent-Length: 22\r\n\r\nGET /boom HTTP/1.1\r\n\r\n"
    lost = b"GET /nowhere HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"
    answer = read_to_end(connect(server, first + lost + get("/hello/again", "Connection: close")))
    assert statuses(answer) == [200, 404, 200]
    assert answer.count(b"hello world") == 1 and answer.count(b"hello again") == 1


def test_expect_100_continue(serve: Callable[..., HttpServer]) -> None:
    server = serve()
    sock = connect(
        server, b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    )
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"ping")
    sock.shutdown(socket.SHUT_WR)  # the server reads no further request and closes after its wait
    answer = read_to_end(sock)
    assert statuses(answer) == [200] and answer.endswith(b"ping")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/hello", *(f"X-{i}: {i}" for i in range(65))), 431),
        (get("/hello", "X-Big: " + "a" * 20000), 431),
        (b"GET /hello\r\nHost: test\r\n\r\n", 400),
        (b"GET http://evil/ HTTP/1.1\r\nHost: test\r\n\r\n", 400),
        (b"GET /hello HTTP/2.0\r\nHost: test\r\n\r\n", 505),
        (b"GET /hello HTTP/1.1\r\n\r\n", 400),
        (get("/hello", "X-A: 1", " folded"), 400),
        (get("/hello", "Content-Length : 0"), 400),
        (get("/hello", "Content-Length: 1", "Content-Length: 1"), 400),
        (get("/hello", "Content-Length: -1"), 400),
        (get("/hello", "Transfer-Encoding: chunked"), 411),
    ],
    ids=[
        "headers",
        "header-bytes",
        "line",
        "absolute",
        "version",
        "host",
        "fold",
        "colon",
        "dup",
        "neg",
        "te",
    ],
)
def test_malformed_heads_are_refused_and_closed(
    serve: Callable[..., HttpServer], request_bytes: bytes, status: int
) -> None:
    answer = read_to_end(connect(serve(), request_bytes))
    assert statuses(answer) == [status] and b"Connection: close" in answer


def test_idle_keep_alive_connection_is_closed(serve: Callable[..., HttpServer]) -> None:
    server = serve(limits=Limits(idle_timeout=0.2))
    answer = read_to_end(connect(server, get("/hello")))
    assert statuses(answer) == [200] and b"Connection: close" not in answer


def test_a_failing_handler_costs_one_500_and_nothing_is_logged_of_the_request(
    serve: Callable[..., HttpServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.httpd")
    server = serve()
    with requests.Session() as session:
        assert session.get(f"{server.url}/boom?access_token=SECRETQUERY1", timeout=GUARD).status_code == 500
        assert session.get(f"{server.url}/bad-header?t=SECRETQUERY2", timeout=GUARD).status_code == 500
        assert session.get(f"{server.url}/SECRETPATH3?x=1", timeout=GUARD).status_code == 404
        assert session.get(f"{server.url}/hello", timeout=GUARD).status_code == 200
    assert "GET /boom failed: RuntimeError" in caplog.text
    assert "SECRET" not in caplog.text


class FailingListener(socket.socket):
    """A listening socket whose accept() fails with EMFILE until `failing` is cleared."""

    def __init__(self) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.failing, self.failed = threading.Event(), 0
        self.failing.set()

    def accept(self) -> tuple[socket.socket, object]:
        if self.failing.is_set():
            self.failed += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_accept_failures_back_off_instead_of_spinning(
    serve: Callable[..., HttpServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.httpd")
    listener = FailingListener()
    listener.bind(("127.0.0.1", 0))
    server = serve(listener=listener)
    wait_until(lambda: listener.failed >= 3, GUARD, "three failed accepts")
    listener.failing.clear()
    assert requests.get(f"{server.url}/hello", timeout=GUARD).status_code == 200
    # A spinning loop makes many thousands of calls in the time backoff allows a handful.
    assert listener.failed < 50
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Too many open files" in warnings[0].getMessage()
    assert "accept() works again" in caplog.text
    assert [accept_backoff(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_tls_with_the_handshake_under_the_same_deadline(
    serve: Callable[..., HttpServer], tmp_path: Path
) -> None:
    cert, key = make_self_signed(tmp_path)
    server = serve(limits=Limits(request_deadline=2.0), tls_cert_file=cert, tls_key_file=key)
    assert server.url.startswith("https://")
    silent = connect(server)  # TCP only, never a ClientHello
    wait_until(lambda: server.active_connections == 1, GUARD, "the silent client to be accepted")
    assert requests.get(f"{server.url}/hello", timeout=GUARD, verify=str(cert)).text == "hello world\n"
    assert server.active_connections >= 1  # the silent one still held, inside its deadline
    assert read_to_end(silent) == b""
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/hello", timeout=GUARD)  # not trusted without the certificate
    context = ssl.create_default_context(cafile=str(cert))
    with context.wrap_socket(connect(server), server_hostname="127.0.0.1") as tls:
        tls.sendall(get("/hello/tls", "Connection: close"))
        assert b"hello tls" in read_to_end(tls)
