"""The callback listener's parsers under hypothesis: any bytes, as a body, as a header or as a whole request,
get a clean refusal (or, for what happens to be valid, an answer), never a 500, a traceback or a log line
of an error. The parsers are tried alone too, where only their own exception type may come out."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_callback_server import API_TOKEN, GUARD, SECRET, make_env

from monitor.callbacks import CallbackServer, RecheckError, parse_recheck
from monitor.callbacks.signed import SignedRequestError, verify_callback
from monitor.httpd.messages import RequestRefused, body_length, parse_head

CLEAN = {200, 202, 400, 401, 404, 405, 408, 411, 413, 429, 431, 505}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server() -> Iterator[CallbackServer]:
    _, server = make_env()
    yield server
    server.stop()


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="monitor.httpd")
    caplog.set_level(logging.WARNING, logger="monitor.callbacks")
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@FUZZ
@given(
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "x/y", ""]),
)
def test_any_deauthorize_body_is_refused_cleanly(
    server: CallbackServer, no_errors: None, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(
        f"{server.url}/callbacks/threads/growth/deauthorize", data=body, headers=headers, timeout=GUARD
    )
    assert answer.status_code == 400 and answer.text == "refused\n"


@FUZZ
@given(body=st.binary(max_size=2048) | st.text(max_size=300).map(str.encode))
def test_any_recheck_body_is_answered_cleanly(server: CallbackServer, no_errors: None, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    answer = requests.post(f"{server.url}/api/v1/recheck", data=body, headers=headers, timeout=GUARD)
    assert answer.status_code in (202, 400), answer.text
    assert "error" in answer.json() or "queued" in answer.json()


@FUZZ
@given(authorization=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80))
def test_any_authorization_header_is_answered_cleanly(
    server: CallbackServer, no_errors: None, authorization: str
) -> None:
    server.bearer = type(server.bearer)(API_TOKEN)  # a fresh allowance: this test is not about throttling
    raw = (
        b"POST /api/v1/recheck HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n"
        b"Authorization: " + authorization.encode("latin-1") + b"\r\n\r\n{}"
    )
    assert _status(server, raw) in CLEAN


@FUZZ
@given(raw=st.binary(max_size=1024))
def test_any_bytes_on_the_socket_are_refused_cleanly(
    server: CallbackServer, no_errors: None, raw: bytes
) -> None:
    status = _status(server, raw + b"\r\n\r\n")
    assert status is None or status in CLEAN


@FUZZ
@given(raw=st.binary(max_size=512))
def test_the_parsers_raise_only_their_own_refusals(raw: bytes) -> None:
    with contextlib.suppress(RecheckError):
        parse_recheck(raw)
    with contextlib.suppress(SignedRequestError):
        verify_callback(raw, "application/x-www-form-urlencoded", SECRET, 1_750_000_000)
    try:
        headers = parse_head(raw, 64)[3]
        body_length(headers)
    except RequestRefused:
        pass


def _status(server: CallbackServer, raw: bytes) -> int | None:
    """The status of the first answer to `raw`, or None when the server closes without one."""
    with socket.create_connection(server.address, timeout=GUARD) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data:
        return None
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    return int(data[9:12])
