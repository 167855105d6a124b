"""One simulator, three platforms: prefixed paths speak one platform, bare paths their credential's, and
every answer still goes out in one write on a kept-alive connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from helpers_sim import (
    FB_APP,
    FB_APP_TOKEN,
    IG_APP,
    THREADS_APP,
    THREADS_DEV,
    data,
    error,
    get,
    three_platforms,
)

from monitor.simulator import DEBUG, Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with three_platforms() as s:
        s.add_token("TH", app_id=THREADS_APP)
        s.add_token("FB", app_id=FB_APP)
        s.add_token("IG", app_id=IG_APP, username="alice")
        yield s


def test_bare_paths_speak_the_platform_of_the_credentials_app(sim: Simulator) -> None:
    assert data(get(sim, "/v1.0/debug_token", input_token="TH", access_token=THREADS_DEV))["is_valid"]
    assert data(get(sim, "/v25.0/debug_token", input_token="FB", access_token=FB_APP_TOKEN))["is_valid"]
    assert get(sim, "/me", fields="username", access_token="IG").json()["username"] == "alice"
    assert (
        sim.calls("TH", DEBUG, platform="threads") == 1 and sim.calls("FB", DEBUG, platform="facebook") == 1
    )
    assert sim.calls(platform="instagram") == 1 and sim.calls() == 3


def test_a_prefixed_path_speaks_that_platform_only(sim: Simulator) -> None:
    assert (
        error(get(sim, "/threads/v1.0/debug_token", input_token="FB", access_token=FB_APP_TOKEN))["code"]
        == 190
    )
    other = get(sim, "/facebook/v25.0/debug_token", input_token="TH", access_token=FB_APP_TOKEN)
    assert data(other)["is_valid"] is False  # Facebook cannot parse a Threads token
    assert get(sim, "/facebook/v25.0/me", access_token="FB").status_code == 404  # no /me on that host here
    assert get(sim, "/nowhere/v1.0/debug_token").status_code == 404
    assert sim.base_url("facebook") == f"{sim.url}/facebook"
    with pytest.raises(ValueError, match="platform"):
        sim.base_url("myspace")


def test_a_pinned_platform_answers_every_bare_path() -> None:
    with three_platforms(default_platform="facebook") as sim:
        sim.add_token("TH", app_id=THREADS_APP)
        sim.add_token("FB", app_id=FB_APP)
        assert error(get(sim, "/v1.0/debug_token", input_token="TH", access_token=THREADS_DEV))["code"] == 190
        assert data(get(sim, "/v25.0/debug_token", input_token="FB", access_token=FB_APP_TOKEN))["is_valid"]
        assert data(get(sim, "/threads/v1.0/debug_token", input_token="TH", access_token=THREADS_DEV))[
            "is_valid"
        ]
    with pytest.raises(ValueError, match="platform"):
        Simulator(default_platform="myspace")


@pytest.mark.parametrize(
    "request_line",
    [
        f"/threads/v1.0/debug_token?input_token=TH&access_token={THREADS_DEV}",
        f"/facebook/v25.0/debug_token?input_token=FB&access_token={FB_APP_TOKEN}",
        "/instagram/me?fields=user_id&access_token=IG",
    ],
)
def test_each_platform_answers_in_one_segment(sim: Simulator, request_line: str) -> None:
    with socket.create_connection(sim.url.removeprefix("http://").split(":"), timeout=5) as conn:
        conn.sendall(f"GET {request_line} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        first = conn.recv(65536)  # headers and body arrive together: nothing waits for an ACK
    head, _, body = first.partition(b"\r\n\r\n")
    length = next(
        int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")
    )
    assert head.startswith(b"HTTP/1.1 200") and len(body) == length and json.loads(body)


def test_one_connection_serves_every_platform(sim: Simulator) -> None:
    calls = [
        ("/threads/v1.0/debug_token", {"input_token": "TH", "access_token": THREADS_DEV}),
        ("/facebook/v25.0/debug_token", {"input_token": "FB", "access_token": FB_APP_TOKEN}),
        ("/instagram/me", {"fields": "user_id", "access_token": "IG"}),
    ]
    with requests.Session() as session:
        for _ in range(30):
            for path, params in calls:
                assert session.get(sim.url + path, params=params).status_code == 200
        pools = session.get_adapter(sim.url).poolmanager.pools
        keys = pools.keys()  # noqa: SIM118 - urllib3's pool container refuses plain iteration
        assert [(pools[key].num_connections, pools[key].num_requests) for key in keys] == [(1, 90)]


def test_an_api_body_over_the_limit_is_refused_unread(sim: Simulator) -> None:
    with socket.create_connection(sim.url.removeprefix("http://").split(":"), timeout=5) as conn:
        head = "POST /facebook/v25.0/debug_token HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n"
        conn.sendall(head.encode())  # the body never comes: the answer must not wait for it
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer and sim.calls() == 0
