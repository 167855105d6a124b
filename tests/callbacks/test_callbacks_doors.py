"""The callback listener attacked, end to end: the real daemon (a child process), the simulator, receivers.

A flood of replays of one captured callback from one client costs nothing (no row, no relay, no check) and
leaves the real callbacks another client sends relayed while it goes on; slow and idle connections from one
client leave the door open for another. Clients differ by source address (127.0.0.2 is as local as
127.0.0.1). Every wait is on a condition with a deadline; nothing here measures a duration.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_callbacks import FORM, CallbackWorld
from receivers import HttpReceiver
from support import wait_until

from monitor.simulator import Simulator

FLOODERS = 12  # more than a client's share of connections (8): the surplus is turned away at once


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


def post_from(
    source: str, world: CallbackWorld, body: bytes, conn: http.client.HTTPConnection | None = None
) -> int:
    """POST a callback from `source` over `conn` (kept alive) or a new connection; the status, 0 if the
    connection failed (a flooder's surplus connections are turned away)."""
    host, port = world.fleet.config.callbacks.listen.rsplit(":", 1)  # type: ignore[union-attr]
    conn = conn or http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", "/callbacks/threads/growth/deauthorize", body=body, headers=FORM)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0


class Flood:
    """FLOODERS threads replaying `body` from 127.0.0.1 over keep-alive connections until stopped."""

    def __init__(self, world: CallbackWorld, body: bytes) -> None:
        self.world, self.body, self.stop = world, body, threading.Event()
        self.answers: dict[int, int] = {}
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(FLOODERS)]

    def _run(self) -> None:
        host, port = self.world.fleet.config.callbacks.listen.rsplit(":", 1)  # type: ignore[union-attr]
        conn = None
        while not self.stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(
                    host, int(port), timeout=10, source_address=("127.0.0.1", 0)
                )
            status = post_from("127.0.0.1", self.world, self.body, conn)
            if status != 200:
                conn = None
            with self._lock:
                self.answers[status] = self.answers.get(status, 0) + 1

    def __enter__(self) -> Flood:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def replays(self) -> int:
        with self._lock:
            return self.answers.get(200, 0)


def test_a_flood_of_replays_from_one_client_leaves_real_callbacks_from_another_relayed(
    tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    with HttpReceiver() as handler:
        world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook, forward_url=handler.url("/deauth/{app}"))
        for user in ("111", "222", "333"):
            world.add_user(user, 1)
        try:
            with world.daemon():
                world.wait_checked([n for names in world.users.values() for n in names])
                world.sim.reset_counters()
                captured = world.signed_body("111")
                assert post_from("127.0.0.1", world, captured) == 200
                handler.wait_for(1, timeout=30)
                with Flood(world, captured) as flood:
                    wait_until(lambda: flood.replays() >= 200, 60, "the flood to get going")
                    real = [world.signed_body(user) for user in ("222", "333")]
                    assert [post_from("127.0.0.2", world, body) for body in real] == [200, 200]
                    relayed = handler.wait_for(3, timeout=30)  # while the flood goes on
                    assert not flood.stop.is_set()
                    replays = flood.replays()
                wait_until(lambda: world.queued() == 0, 30, "the queued checks")
                metrics = world.metrics()
        finally:
            world.fleet.close()
    assert sorted(r.body for r in relayed) == sorted([captured, *real])
    assert len(handler.requests.items) == 3  # no replay was ever relayed
    assert world.callbacks_stored() == 3  # nor stored
    assert world.debug_calls(world.users["111"]) == 1  # nor checked again
    assert world.debug_calls(world.users["222"] + world.users["333"]) == 2
    assert replays >= 200
    counted = metrics.split('threads_monitor_callbacks_total{kind="deauthorize",outcome="replayed"} ')[1]
    assert float(counted.split()[0]) >= replays
    assert world.scan() == []


def test_slow_and_idle_connections_from_one_client_leave_the_door_open_for_another(
    tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    """64 connections from one client, idle or trickling a head, hold at most its share of the slots (8):
    the rest are turned away at once, and another client's callback is answered and stored while they are
    held (the head deadline is a minute here, so nothing but the share can free the door)."""
    world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook)
    path = world.fleet.config_path
    slow = '[callbacks]\nheader_timeout = "60s"\nrequest_timeout = "60s"\n'
    path.write_text(path.read_text(encoding="utf-8").replace("[callbacks]\n", slow), encoding="utf-8")
    world.add_user("111", 1)
    host, port = world.fleet.config.callbacks.listen.rsplit(":", 1)  # type: ignore[union-attr]
    hog: list[socket.socket] = []
    try:
        with world.daemon():
            world.wait_checked(world.users["111"])
            for n in range(64):
                sock = socket.create_connection(
                    (host, int(port)), timeout=10, source_address=("127.0.0.1", 0)
                )
                sock.sendall(
                    b"POST /callbacks/threads/growth/deauthorize HTTP/1.1\r\nHost: x\r\nX-Slow: "
                    if n % 2
                    else b""
                )
                hog.append(sock)
            wait_until(lambda: len(_answered(hog)) >= 64 - 8, 30, "the surplus to be turned away")
            assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in _answered(hog).values())
            assert post_from("127.0.0.2", world, world.signed_body("111")) == 200
            assert len(_answered(hog)) == 64 - 8  # the share is still held
            assert world.callbacks_stored() == 1
    finally:
        for sock in hog:
            sock.close()
        world.fleet.close()
    assert world.scan() == []


def _answered(socks: list[socket.socket]) -> dict[int, bytes]:
    """What each connection that got an answer (and a close) received, by position; waits for nothing."""
    ready, _, _ = select.select(socks, [], [], 0)
    out = {}
    for sock in ready:
        sock.setblocking(False)
        try:
            out[socks.index(sock)] = sock.recv(4096, socket.MSG_PEEK)
        except (BlockingIOError, ConnectionResetError):
            continue
    return out


def test_a_refused_request_ends_its_connection(world_single: CallbackWorld) -> None:
    world = world_single
    host, port = world.fleet.config.callbacks.listen.rsplit(":", 1)  # type: ignore[union-attr]
    with world.daemon():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request(
            "POST", "/callbacks/threads/growth/deauthorize", body=b"signed_request=x.y", headers=FORM
        )
        answer = conn.getresponse()
        assert (answer.status, answer.getheader("Connection")) == (400, "close")
        assert answer.read() == b"refused\n"
        conn.close()


@pytest.fixture
def world_single(
    tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver
) -> Iterator[CallbackWorld]:
    world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook)
    yield world
    world.fleet.close()
    assert world.scan() == []


def test_one_recheck_request_spends_a_bounded_share_and_says_what_it_left(
    tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    """A user with 120 tokens: one authorised recheck queues 100 (its cap) and says 20 were refused; the
    queued checks spend their share of the budget (a tenth of 400 calls an hour: 40) and no more, while
    scheduled checks go on with the rest."""
    world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook)
    path = world.fleet.config_path
    text = path.read_text(encoding="utf-8").replace(
        "max_calls_per_hour = 1000000", "max_calls_per_hour = 400"
    )
    text = text.replace("retries = 2", "retries = 0").replace(
        "[callbacks]\n", "[callbacks]\nrecheck_share = 0.1\n"
    )
    path.write_text(text, encoding="utf-8")
    crowd, others = world.add_user("111", 120), world.add_user("222", 5)
    try:
        with world.daemon():
            world.wait_checked(crowd + others)
            world.sim.reset_counters()
            answer = world.recheck({"app": "growth", "user_id": "111"}, world.api_token)
            assert (answer.status_code, answer.json()) == (202, {"queued": 100, "deferred": 0, "refused": 20})
            wait_until(lambda: world.debug_calls(crowd) >= 40, 60, "the share of queued checks")
            world.fleet.make_due(others)
            wait_until(lambda: world.debug_calls(others) >= 5, 60, "the scheduled checks")
            assert world.queued() == 60  # the rest waits for the share to come back
        assert world.debug_calls(crowd) == 40
    finally:
        world.fleet.close()
    assert world.scan() == []
