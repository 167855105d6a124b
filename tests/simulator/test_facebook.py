"""Facebook's rules over HTTP: debug_token is GET only and has its caller rules; the fb_exchange_token grant
renews a 60-day system-user token, and does not extend a long-lived user token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from helpers_sim import FB_APP, FB_APP_TOKEN, FB_SECRET, NOW, data, error, exchange, fb_debug, three_platforms

from monitor.simulator import DAY, EXCHANGE, Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    """One app of each platform, on a clock fixed at NOW."""
    with three_platforms(clock=lambda: NOW) as started:
        yield started


def test_debug_token_is_get_only(sim: Simulator) -> None:
    sim.add_token("FB-USER", app_id=FB_APP)
    params = {"input_token": "FB-USER", "access_token": FB_APP_TOKEN}
    for how in ({"params": params}, {"data": params}):
        refused = error(requests.post(f"{sim.base_url('facebook')}/v25.0/debug_token", timeout=10, **how))
        assert (refused["code"], refused["error_subcode"], refused["type"]) == (
            100,
            33,
            "GraphMethodException",
        )
    assert sim.token_state("FB-USER")["state"] == "valid"  # a refused call changes nothing


@pytest.mark.parametrize("kind", ["SYSTEM_USER", "PAGE", "USER"])
def test_a_token_that_is_not_a_developers_cannot_inspect_itself(sim: Simulator, kind: str) -> None:
    sim.add_token("SELF", app_id=FB_APP, type=kind)
    refused = error(fb_debug(sim, "SELF", caller="SELF"))
    assert refused["code"] == 100 and "app access token" in refused["message"]


def test_a_system_user_token_never_inspects_even_when_registered_as_inspector(sim: Simulator) -> None:
    sim.add_app("13", "SYS-AS-DEV", platform="facebook")
    sim.add_token("SYS-AS-DEV", app_id="13", type="SYSTEM_USER")
    sim.add_token("USER-13", app_id="13")
    assert error(fb_debug(sim, "USER-13", caller="SYS-AS-DEV"))["code"] == 100


def test_a_60_day_system_user_token_is_renewed_with_the_app_secret(sim: Simulator) -> None:
    sim.add_token("SYS-60", app_id=FB_APP, type="SYSTEM_USER", issued_at=NOW - 50 * DAY,
                  expires_at=NOW + 10 * DAY, scopes=["business_management"])  # fmt: skip
    answer = exchange(sim, "SYS-60", set_token_expires_in_60_days="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"} and body["token_type"] == "bearer"
    assert body["access_token"] != "SYS-60" and body["expires_in"] == 60 * 86400
    renewed = data(fb_debug(sim, body["access_token"]))
    assert renewed["type"] == "SYSTEM_USER" and renewed["scopes"] == ["business_management"]
    assert renewed["expires_at"] == NOW + 60 * DAY
    assert data(fb_debug(sim, "SYS-60"))["is_valid"] is True  # the old string lives on until its own expiry
    assert sim.calls("SYS-60", EXCHANGE) == 1


def test_a_never_expiring_system_user_token_would_be_made_a_60_day_one(sim: Simulator) -> None:
    """What Meta does, and why a monitor must never ask: the answer expires where the original never did."""
    sim.add_token("SYS-NEVER", app_id=FB_APP, type="SYSTEM_USER")
    body = exchange(sim, "SYS-NEVER", set_token_expires_in_60_days="true").json()
    assert data(fb_debug(sim, body["access_token"]))["expires_at"] > 0
    assert data(fb_debug(sim, "SYS-NEVER"))["expires_at"] == 0


def test_a_system_user_exchange_needs_the_60_day_flag(sim: Simulator) -> None:
    sim.add_token("SYS-60", app_id=FB_APP, type="SYSTEM_USER", expires_at=NOW + 10 * DAY)
    assert error(exchange(sim, "SYS-60"))["code"] == 100


def test_the_app_credentials_are_checked_first(sim: Simulator) -> None:
    sim.add_token("SYS-60", app_id=FB_APP, type="SYSTEM_USER", expires_at=NOW + 10 * DAY)
    flag = {"set_token_expires_in_60_days": "true"}
    assert error(exchange(sim, "SYS-60", client_id="999", **flag))["code"] == 101
    bad_secret = error(exchange(sim, "SYS-60", secret="not-" + FB_SECRET, **flag))
    assert bad_secret["code"] == 1 and "client secret" in bad_secret["message"]
    assert error(exchange(sim, "SYS-60", secret="", **flag))["code"] == 1
    assert error(exchange(sim, "NOBODY-ISSUED-THIS", **flag))["code"] == 190
    sim.add_app("14", platform="facebook", app_secret="s14")
    assert (
        error(exchange(sim, "SYS-60", client_id="14", secret="s14", **flag))["code"] == 190
    )  # not its token
    wrong_grant = exchange(sim, "SYS-60", grant_type="client_credentials", **flag)
    assert error(wrong_grant)["code"] == 100


def test_a_long_lived_user_token_is_not_extended(sim: Simulator) -> None:
    """Exchanging it again answers the same string with the expiry it already had: nothing moved."""
    sim.add_token("FB-LONG", app_id=FB_APP, issued_at=NOW - 55 * DAY)
    before = data(fb_debug(sim, "FB-LONG"))["expires_at"]
    body = exchange(sim, "FB-LONG").json()
    assert body["access_token"] == "FB-LONG" and body["expires_in"] == 5 * 86400
    assert data(fb_debug(sim, body["access_token"]))["expires_at"] == before


def test_a_short_lived_user_token_becomes_a_long_lived_one(sim: Simulator) -> None:
    sim.add_token("FB-SHORT", app_id=FB_APP, issued_at=NOW, expires_at=NOW + 2 * 3600)
    body = exchange(sim, "FB-SHORT").json()
    assert body["access_token"] != "FB-SHORT" and body["expires_in"] == 60 * 86400
    assert data(fb_debug(sim, body["access_token"]))["type"] == "USER"


def test_page_and_app_tokens_and_dead_tokens_are_not_exchanged(sim: Simulator) -> None:
    sim.add_token("PAGE", app_id=FB_APP, type="PAGE")
    sim.add_token("APP", app_id=FB_APP, type="APP")
    sim.add_token("EXPIRED", app_id=FB_APP, type="SYSTEM_USER", expires_at=NOW - 1)
    flag = {"set_token_expires_in_60_days": "true"}
    assert error(exchange(sim, "PAGE", **flag))["code"] == 100
    assert error(exchange(sim, "APP", **flag))["code"] == 100
    expired = error(exchange(sim, "EXPIRED", **flag))
    assert (expired["code"], expired["error_subcode"]) == (190, 463)


def test_the_exchange_is_facebooks_only(sim: Simulator) -> None:
    sim.add_token("SYS-60", app_id=FB_APP, type="SYSTEM_USER", expires_at=NOW + 10 * DAY)
    threads = requests.get(f"{sim.base_url('threads')}/v1.0/oauth/access_token", timeout=10)
    assert threads.status_code == 404
    bare = exchange(sim, "SYS-60", set_token_expires_in_60_days="true").url.replace("/facebook", "")
    assert requests.get(bare, timeout=10).status_code == 200  # client_id names the platform
