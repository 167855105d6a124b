"""The pieces around the listener: the [callbacks] section, the counters, and the simulator's callback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client import CollectorRegistry
from receivers import HttpReceiver

from monitor.callbacks import KINDS, OUTCOMES, verify_callback
from monitor.config.load import ConfigError, default_config, parse_config
from monitor.config.model import CallbacksConfig
from monitor.metrics.exposition import Events
from monitor.simulator import Simulator
from monitor.simulator.deauth import signed_request

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def parse(callbacks: dict[str, Any] | None, env: dict[str, str] | None = None) -> Any:
    data = {} if callbacks is None else {"callbacks": callbacks}
    return parse_config(data, env=env or {}).callbacks


def test_the_section_is_off_unless_present_and_has_defaults() -> None:
    assert parse(None) is None and default_config().callbacks is None
    assert parse({}) == CallbacksConfig()
    assert (CallbacksConfig().host, CallbacksConfig().port) == ("127.0.0.1", 9470)
    given = parse(
        {"listen": "[::1]:9999", "api_token_env": "TOKEN", "forward_url": "https://app.example/d/{app}"},
        env={"TOKEN": "s3cret-api-token-of-enough-characters"},
    )
    assert (given.host, given.port, given.api_token) == ("::1", 9999, "s3cret-api-token-of-enough-characters")
    assert "s3cret" not in repr(given)
    assert CallbacksConfig().public_url is None  # the listener's own URL
    assert parse({"public_url": "https://monitor.example.com/meta/"}).public_url == (
        "https://monitor.example.com/meta"
    )


@pytest.mark.parametrize(
    ("callbacks", "problem"),
    [
        ({"listen": "nowhere"}, "callbacks.listen"),
        ({"forward_url": "ftp://x/{app}"}, "callbacks.forward_url"),
        ({"forward_url": "https://x/{user}"}, "callbacks.forward_url"),
        ({"api_token_env": "UNSET"}, "callbacks.api_token_env"),
        ({"api_token": "a", "api_token_env": "B"}, "callbacks.api_token"),
        ({"tls_cert_file": "/etc/hostname"}, "callbacks.tls_key_file"),
        ({"lisen": "127.0.0.1:1"}, "callbacks.lisen"),
        ({"public_url": "ftp://monitor.example.com"}, "callbacks.public_url"),
        ({"public_url": "https://monitor.example.com/?x=1"}, "callbacks.public_url"),
        ({"public_url": "https://user:pw@monitor.example.com"}, "callbacks.public_url"),
        ({"public_url": "https://"}, "callbacks.public_url"),
    ],
)
def test_every_problem_names_its_key(callbacks: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(callbacks)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_counter_starts_at_zero_for_every_kind_and_outcome() -> None:
    registry = CollectorRegistry()  # the event metrics alone: the token collector would read a database
    events = Events(registry)
    for kind in KINDS:
        for outcome in OUTCOMES:
            labels = {"kind": kind, "outcome": outcome}
            assert registry.get_sample_value("threads_monitor_callbacks_total", labels) == 0.0
    events.callback("deauthorize", "stale")
    assert (
        registry.get_sample_value(
            "threads_monitor_callbacks_total", {"kind": "deauthorize", "outcome": "stale"}
        )
        == 1
    )


def test_the_simulator_signs_what_the_monitor_verifies() -> None:
    """Two implementations of Meta's format (the simulator imports nothing of monitor.callbacks): each
    revocation through the control surface is POSTed, signed with the app secret, and verifies."""
    with HttpReceiver() as meta_target, Simulator() as sim:
        sim.add_app("42", "INSPECTOR-x", app_secret="the-app-secret")
        sim.add_app("43", "INSPECTOR-y")  # no secret: nothing to sign with, no callback
        sim.add_token("TOKEN-a", app_id="42", user_id="777")
        sim.add_token("TOKEN-b", app_id="43", user_id="888")
        sim.callback_url = meta_target.url("/callbacks/threads/{app}/deauthorize")
        import urllib.request

        with urllib.request.urlopen(f"{sim.url}/__sim/revoke?token=TOKEN-a", timeout=5) as answer:
            assert answer.status == 200
        assert sim.revoke("TOKEN-b") == ("43", "888", None)
        (request,) = meta_target.wait_for(1, timeout=10)
        assert sim.token_state("TOKEN-a")["state"] == sim.token_state("TOKEN-b")["state"] == "revoked"
    assert request.path == "/callbacks/threads/42/deauthorize"
    verified = verify_callback(request.body, request.headers["Content-Type"], "the-app-secret", time.time())
    assert verified.user_id == "777"
    assert len(meta_target.requests.items) == 1
    assert signed_request("777", "k", 1).count(".") == 1


def test_a_registered_app_without_a_secret_is_named_once_in_a_warning(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Callbacks wired before `apps set-secret`: refused (as an unknown app), and the log says why, once."""
    from helpers_daemon import close_sweeper, make_fleet

    from monitor.callbacks import sign_request
    from monitor.daemon.callbacks import CallbacksComponent, CallbacksSettings

    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim)
        fleet.add_app("growth")
        sweeper = fleet.sweeper()
        counted: list[tuple[str, str]] = []
        component = CallbacksComponent(
            CallbacksSettings(CallbacksConfig(listen="127.0.0.1:0")), sessions=fleet.ctx.sessions,
            vault=fleet.ctx.vault, sweeper=sweeper,
            count=lambda kind, outcome: counted.append((kind, outcome)), clock=time.time,
        )  # fmt: skip
        try:
            body = urlencode({"signed_request": sign_request("1", int(time.time()), "any")})
            url = f"{component.url}/callbacks/threads/growth/deauthorize"
            answers = [requests.post(url, data=body, headers=FORM, timeout=10).status_code for _ in range(3)]
        finally:
            component.close()
            close_sweeper(sweeper)
            fleet.close()
    assert answers == [400] * 3 and counted == [("deauthorize", "unknown_app")] * 3
    warnings = [r.getMessage() for r in caplog.records if "no app secret" in r.getMessage()]
    assert warnings == ["deauthorize callbacks for app growth are refused: no app secret is stored "
                        "(threads-token-monitor apps set-secret growth ...)"]  # fmt: skip
