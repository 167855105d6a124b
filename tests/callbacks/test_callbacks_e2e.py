"""Callbacks end to end (SPEC 11): the real daemon (a child process), the simulator, a webhook receiver.

A revocation the simulator announces with a signed deauthorize callback becomes TokenInvalid at the
receiver after one real debug_token call per token of that user, and none for anyone else; refused requests
cost no API call; a replay checks at most once per 10 s; the recheck API wants its bearer token; two daemons
on one PostgreSQL database check a called-back token exactly once. Every wait is on a condition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers_callbacks import CallbackWorld
from receivers import HttpReceiver
from support import free_port, wait_until

from monitor.cli import main
from monitor.simulator import Simulator

DAY = 86400


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


def make_world(tmp_path: Path, db_url: str, sim: Simulator, hook: HttpReceiver) -> CallbackWorld:
    world = CallbackWorld.make(tmp_path, db_url, sim, hook)
    world.add_user("111", 2)
    world.add_user("222", 2)
    return world


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver) -> Iterator[CallbackWorld]:
    w = make_world(tmp_path, sqlite_url, sim, hook)
    yield w
    w.fleet.close()
    assert w.scan() == [], "a token, app secret or API token appeared in the output"


def test_a_revocation_announced_by_callback_is_invalid_at_the_receiver(
    world: CallbackWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    revoked, other = world.users["111"], world.users["222"]
    with world.daemon():
        world.wait_checked(revoked + other)
        world.sim.reset_counters()
        world.sim.callback_url = world.deauthorize_url("{app}").replace("%7Bapp%7D", "{app}")
        for name in revoked:  # the user removed the app: every token of theirs is dead
            world.sim.update_token(world.fleet.tokens[name], state="revoked")
        world.sim.revoke(world.fleet.tokens[revoked[0]])  # and Meta calls back, once

        wait_until(
            lambda: {n for a, n in world.alertnames() if a == "TokenInvalid"} == set(revoked),
            60,
            "TokenInvalid for both tokens of user 111 at the webhook",
        )
        rows = world.rows()
        assert {n: rows[n].last_result for n in revoked} == dict.fromkeys(revoked, "invalid")
        assert all(rows[n].callback_check_reason == "deauthorize" for n in revoked)
        assert world.debug_calls(revoked) == 2  # one real debug_token call each
        assert world.debug_calls(other) == 0  # another user's tokens are never touched
        assert all(rows[n].callback_check_at is None for n in other)
        assert world.callbacks_stored() == 1
        assert 'threads_monitor_callbacks_total{kind="deauthorize",outcome="accepted"} 1.0' in world.metrics()
        page = requests.get(f"http://{world.fleet.config.http.listen}/tokens/{revoked[0]}", timeout=10).text
        assert "asked by a deauthorize callback" in page
    # `status` says which check a callback asked for.
    cfg = ["--config", str(world.fleet.config_path)]
    capsys.readouterr()
    main([*cfg, "status", "--json"])
    shown = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert shown[revoked[0]]["callback_check_reason"] == "deauthorize"
    assert shown[revoked[0]]["callback_check_at"] and shown[other[0]]["callback_check_at"] is None
    main([*cfg, "status"])
    table = capsys.readouterr().out
    assert all("by a deauthorize callback" in line for line in table.splitlines() if revoked[0] in line)


def test_refused_requests_answer_400_and_cost_no_api_call(world: CallbackWorld) -> None:
    now = int(time.time())
    refused = {
        "forged signature": world.signed_body("111", secret="not-the-app-secret"),
        "another algorithm": world.signed_body("111", algorithm="HMAC-SHA1"),
        "issued 25 h ago": world.signed_body("111", issued_at=now - 25 * 3600),
        "issued in an hour": world.signed_body("111", issued_at=now + 3600),
        "garbage": b"\x00\xff garbage &&&",
        "no signed_request": b"user_id=111",
        "oversized": b"signed_request=" + b"A" * (9 * 1024),
    }
    with world.daemon():
        world.wait_checked(world.users["111"] + world.users["222"])
        world.sim.reset_counters()
        answers = {what: world.post_callback(body) for what, body in refused.items()}
        answers["unknown app"] = world.post_callback(world.signed_body("111"), app="not-registered")
        assert {what: (r.status_code, r.text.strip()) for what, r in answers.items()} == dict.fromkeys(
            answers, (400, "refused")
        )
        assert world.queued() == 0 and world.callbacks_stored() == 0
        metrics = world.metrics()
    assert world.debug_calls() == 0
    for outcome, n in {"bad_signature": 2, "stale": 2, "unknown_app": 1, "bad_request": 3}.items():
        assert f'threads_monitor_callbacks_total{{kind="deauthorize",outcome="{outcome}"}} {n}.0' in metrics


def test_a_replayed_callback_checks_a_token_at_most_once_per_10s(world: CallbackWorld) -> None:
    user = world.users["111"]
    with world.daemon():
        world.wait_checked(user + world.users["222"])
        world.sim.reset_counters()
        body = world.signed_body("111")
        assert [world.post_callback(body).status_code for _ in range(5)] == [200] * 5
        wait_until(lambda: world.queued() == 0 and world.debug_calls(user) >= 2, 30, "the queued checks")
        # Replays after the check are refused a new one: nothing is queued, so nothing more is called.
        assert [world.post_callback(body).status_code for _ in range(3)] == [200] * 3
        assert world.queued() == 0
        rows = world.rows()
        assert all(rows[n].callback_check_at is not None for n in user)
    assert world.debug_calls(user) == 2  # one per token for eight deliveries of the same callback
    assert world.callbacks_stored() == 8  # each one stored (and acknowledged) all the same


def test_the_recheck_api_wants_its_bearer_token(world: CallbackWorld) -> None:
    name = world.users["222"][0]
    with world.daemon():
        world.wait_checked([name])
        world.sim.reset_counters()
        assert world.recheck({"token": name}, None).status_code == 401
        assert world.recheck({"token": name}, "wrong-token").status_code == 401
        assert world.queued() == 0
        answer = world.recheck({"token": name}, world.api_token)
        assert (answer.status_code, answer.json()) == (202, {"queued": 1})
        wait_until(lambda: world.debug_calls([name]) == 1 and world.queued() == 0, 30, "the recheck")
        answer = world.recheck({"app": "growth", "user_id": "111"}, world.api_token)
        assert (answer.status_code, answer.json()) == (202, {"queued": 2})
        wait_until(lambda: world.debug_calls(world.users["111"]) == 2, 30, "the rechecks of user 111")
        assert world.rows()[name].callback_check_reason == "recheck"
        metrics = world.metrics()
    assert 'threads_monitor_callbacks_total{kind="recheck",outcome="unauthorized"} 2.0' in metrics
    assert 'threads_monitor_callbacks_total{kind="recheck",outcome="accepted"} 2.0' in metrics


def test_a_port_in_use_is_a_clear_start_up_error(world: CallbackWorld) -> None:
    import socket

    from helpers_daemon import DaemonProcess

    assert world.fleet.config.callbacks is not None
    host, port = world.fleet.config.callbacks.listen.rsplit(":", 1)
    with socket.create_server((host, int(port))):
        process = DaemonProcess(world.fleet.config_path, world.tmp_path / "taken.log")
        world.daemons.append(process)
        code = process.wait(30)
    assert code != 0
    assert "([callbacks] listen)" in process.output()


def test_two_daemons_on_postgresql_check_a_called_back_token_exactly_once(
    tmp_path: Path, postgres_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    world = make_world(tmp_path, postgres_url, sim, hook)
    assert world.fleet.config.callbacks is not None
    text = world.fleet.config_path.read_text(encoding="utf-8")
    second = tmp_path / "b.toml"
    listen, other = world.fleet.config.callbacks.listen, f"127.0.0.1:{free_port()}"
    text = text.replace(world.fleet.config.http.listen, f"127.0.0.1:{free_port()}")
    second.write_text(text.replace(listen, other), encoding="utf-8")
    other_url = world.deauthorize_url().replace(listen, other)
    user = world.users["111"]
    try:
        with world.daemon("a"), world.daemon("b", second):
            world.wait_checked(user + world.users["222"])
            world.sim.reset_counters()
            body = world.signed_body("111")
            # Meta delivers to one of them (here both, as a retry through a load balancer would).
            assert world.post_callback(body).status_code == 200
            assert world.post_callback(body, url=other_url).status_code == 200
            wait_until(
                lambda: world.queued() == 0 and world.debug_calls(user) >= 2 and world.fleet.leases() == 0,
                30,
                "the called-back tokens to be checked",
            )
        assert world.debug_calls(user) == 2  # each token once, whichever daemon was free
        assert world.debug_calls(world.users["222"]) == 0
        assert world.callbacks_stored() == 2
    finally:
        world.fleet.close()
    assert world.scan() == []


def test_forward_url_relays_the_original_body_through_the_outbox(
    tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    """The application's own handler gets each accepted callback byte for byte, with its content type,
    retried after a failure like any notification (one delivery id); a refused one is never relayed."""
    with HttpReceiver() as app_handler:
        app_handler.respond(503)  # the handler is briefly down: the outbox retries
        forward = app_handler.url("/threads/deauthorize/{app}")
        world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook, forward_url=forward)
        world.add_user("111", 1)
        try:
            with world.daemon():
                world.wait_checked(world.users["111"])
                body = world.signed_body("111") + b"&extra=kept%20as%20sent"
                assert world.post_callback(world.signed_body("111", secret="forged")).status_code == 400
                assert world.post_callback(body).status_code == 200
                first, second = app_handler.wait_for(2, timeout=60)
        finally:
            world.fleet.close()
    assert second.path == "/threads/deauthorize/growth" and second.body == body
    assert second.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert first.body == body
    assert first.headers["X-Threads-Monitor-Delivery"] == second.headers["X-Threads-Monitor-Delivery"]
    assert len(app_handler.requests.items) == 2  # the forged one never went out
    assert world.scan() == []
