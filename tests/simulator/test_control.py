"""The `/__sim/` control surface and `python -m monitor.simulator` with its platform options."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers_sim import FB_APP, FB_APP_TOKEN, IG_APP, IG_APP_TOKEN, NOW, data, fb_debug, get, three_platforms

from monitor.simulator import Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    """One app of each platform, on a clock fixed at NOW."""
    with three_platforms(clock=lambda: NOW) as started:
        yield started


def control(sim: Simulator, action: str, **params: str) -> requests.Response:
    return requests.get(f"{sim.url}/__sim/{action}", params=params, timeout=10)


def test_load_registers_apps_and_tokens_of_every_kind(sim: Simulator) -> None:
    doc = {
        "apps": [{"app_id": "60", "inspector": "DEV-60", "platform": "facebook", "app_secret": "s60"}],
        "tokens": [{"token": "PAGE-60", "app_id": "60", "type": "PAGE", "profile_id": "6",
                    "granular_scopes": [{"scope": "pages_show_list", "target_ids": ["6"]}]}],
        "instagram_debug": "partial",
    }  # fmt: skip
    assert requests.post(f"{sim.url}/__sim/load", json=doc, timeout=10).status_code == 200
    answer = data(fb_debug(sim, "PAGE-60", caller="60|s60"))
    assert answer["profile_id"] == "6" and answer["expires_at"] == 0
    sim.add_token("IG", app_id=IG_APP)
    assert "expires_at" not in data(
        get(sim, "/instagram/debug_token", input_token="IG", access_token=IG_APP_TOKEN)
    )
    bad = {"tokens": [{"token": "X", "app_id": "60", "state": "?"}]}
    refused = requests.post(f"{sim.url}/__sim/load", json=bad, timeout=10)
    assert refused.status_code == 400
    assert requests.post(f"{sim.url}/__sim/load", data=b"[1]", timeout=10).status_code == 400


def test_tokens_change_through_the_control_surface(sim: Simulator) -> None:
    sim.add_token(
        "FB", app_id=FB_APP, granular_scopes=[{"scope": "pages_show_list", "target_ids": ["1", "2"]}]
    )
    assert control(sim, "never", token="FB").status_code == 200
    assert control(sim, "targets", token="FB", scope="pages_show_list", target_ids="2").status_code == 200
    answer = data(fb_debug(sim, "FB"))
    assert answer["expires_at"] == 0 and answer["granular_scopes"] == [
        {"scope": "pages_show_list", "target_ids": ["2"]}
    ]
    assert control(sim, "targets", token="FB", scope="pages_show_list", target_ids="").status_code == 200
    assert data(fb_debug(sim, "FB"))["granular_scopes"][0]["target_ids"] == []
    assert control(sim, "update", token="FB", state="data_access_expired", scopes="a,b").status_code == 200
    state = control(sim, "token", token="FB").json()
    assert (state["state"], state["scopes"], state["platform"]) == (
        "data_access_expired",
        ["a", "b"],
        "facebook",
    )
    assert control(sim, "revoke", token="FB").json() == {"ok": True, "app": FB_APP, "user_id": "1000"}
    assert control(sim, "instagram_debug", mode="full").status_code == 200
    assert sim.registry.instagram_debug == "full"


def test_bad_control_requests_change_nothing(sim: Simulator) -> None:
    sim.add_token("FB", app_id=FB_APP)
    assert control(sim, "never", token="NOPE").status_code == 404
    assert control(sim, "update", token="FB", state="sleepy").status_code == 400
    assert control(sim, "instagram_debug", mode="sometimes").status_code == 400
    assert control(sim, "fault", kind="gremlins").status_code == 400
    assert control(sim, "fault", kind="latency", count="many").status_code == 400
    assert control(sim, "teleport").status_code == 404
    assert sim.token_state("FB")["state"] == "valid" and sim.registry.instagram_debug == "error"
    assert data(fb_debug(sim, "FB"))["is_valid"] is True  # no fault slipped in


def test_stats_count_every_endpoint_and_platform(sim: Simulator) -> None:
    sim.add_token("FB", app_id=FB_APP)
    sim.add_token("IG", app_id=IG_APP)
    fb_debug(sim, "FB")
    get(sim, "/instagram/me", access_token="IG")
    control(sim, "fault", kind="http_error", status="502", platform="instagram")
    assert get(sim, "/instagram/me", access_token="IG").status_code == 502
    assert fb_debug(sim, "FB").status_code == 200  # the fault is Instagram's only
    stats = control(sim, "stats").json()
    assert stats == {"debug_token": 2, "refresh_access_token": 0, "me": 2, "access_token": 0, "total": 4,
                     "platforms": {"threads": 0, "facebook": 2, "instagram": 2}}  # fmt: skip
    control(sim, "reset")
    control(sim, "clear")
    assert control(sim, "stats").json()["total"] == 0 and get(sim, "/instagram/me", access_token="IG").ok


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "monitor.simulator", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_help_and_listing_name_the_platforms() -> None:
    helped = run_cli("--help")
    assert helped.returncode == 0
    for words in (
        "--platform",
        "--list-platforms",
        "--instagram-debug-token",
        "--data-deletion-url",
        "/facebook/",
    ):
        assert words in helped.stdout
    listed = run_cli("--list-platforms")
    assert listed.returncode == 0
    for words in (
        "threads:",
        "facebook:",
        "instagram:",
        "/oauth/access_token",
        "/me",
        "TH|APP_ID|APP_SECRET",
    ):
        assert words in listed.stdout
    assert run_cli("--platform", "myspace").returncode == 2


def test_the_command_line_pins_a_platform_and_instagrams_debug_token(tmp_path: Path) -> None:
    spec = {
        "apps": [{"app_id": "70", "inspector": "DEV-70", "platform": "instagram", "app_secret": "s70"}],
        "tokens": [{"token": "IG-70", "app_id": "70"}],
    }
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "monitor.simulator", "--port", "0", "--tokens", str(path),
           "--platform", "instagram", "--instagram-debug-token", "full"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        answer = requests.get(f"{url}/debug_token", params={"input_token": "IG-70", "access_token": "70|s70"},
                              timeout=10)  # fmt: skip
        assert answer.json()["data"]["expires_at"] > 0
        unknown = requests.get(
            f"{url}/v1.0/debug_token", params={"input_token": "X", "access_token": "Y"}, timeout=10
        )
        assert unknown.json()["error"]["code"] == 190
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "IG-70" not in err and "s70" not in err


def test_fb_app_token_constant_is_what_the_listing_shows() -> None:
    assert f"{FB_APP}|fb-secret" == FB_APP_TOKEN
