"""The Threads API simulator on its own: wire shapes, counters, faults, refresh rules, command line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from monitor.simulator import DAY, Simulator, token_digest

APP, INSPECTOR = "777", "SIM-INSPECTOR-TOKEN"


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.add_app(APP, INSPECTOR, application="Sim App")
        yield s


def debug(sim: Simulator, token: str, inspector: str = INSPECTOR) -> requests.Response:
    params = {"input_token": token, "access_token": inspector}
    return requests.get(f"{sim.url}/v1.0/debug_token", params=params, timeout=5)


def refresh(sim: Simulator, token: str, grant: str = "th_refresh_token") -> requests.Response:
    params = {"grant_type": grant, "access_token": token}
    return requests.get(f"{sim.url}/refresh_access_token", params=params, timeout=5)


def test_shapes_match_the_real_api(sim: Simulator) -> None:
    issued = int(time.time() - DAY)
    sim.add_token("tok-valid", app_id=APP, issued_at=issued)
    data = debug(sim, "tok-valid").json()["data"]
    assert data["is_valid"] is True and data["application"] == "Sim App" and data["type"] == "USER"
    assert (data["issued_at"], data["expires_at"]) == (issued, issued + 60 * 86400)
    assert "error" not in data
    sim.update_token("tok-valid", state="password_changed")
    data = debug(sim, "tok-valid").json()["data"]
    assert data["is_valid"] is False and data["expires_at"] == 0
    assert data["error"]["code"] == 190 and data["error"]["subcode"] == 460 and "message" in data["error"]
    garbage = debug(sim, "unknown").json()
    assert garbage == {
        "data": {
            "error": {"code": 190, "message": garbage["data"]["error"]["message"]},
            "is_valid": False,
            "scopes": [],
        }
    }
    resp = debug(sim, "tok-valid", "NOT-AN-INSPECTOR")
    assert resp.status_code == 400 and set(resp.json()["error"]) >= {"message", "type", "code", "fbtrace_id"}


def test_expiry_follows_the_clock() -> None:
    now = [1_000_000.0]
    with Simulator(clock=lambda: now[0]) as sim:
        sim.add_app(APP, INSPECTOR)
        sim.add_token("tok", app_id=APP)
        assert sim.token_state("tok")["state"] == "valid"
        now[0] += 60 * DAY
        assert sim.token_state("tok")["state"] == "expired"
        assert debug(sim, "tok").json()["data"]["error"]["subcode"] == 463
        sim.add_token("forever", app_id=APP, expires_at=0)
        assert debug(sim, "forever").json()["data"]["is_valid"] is True


def test_counters_and_call_log(sim: Simulator) -> None:
    sim.add_token("tok-a", app_id=APP)
    for _ in range(3):
        debug(sim, "tok-a")
    debug(sim, "tok-b")
    refresh(sim, "tok-a")
    assert (sim.calls(), sim.calls("tok-a"), sim.calls("tok-b")) == (5, 4, 1)
    assert sim.calls("tok-a", "debug_token") == 3 and sim.calls(endpoint="refresh_access_token") == 1
    log = sim.call_log()
    assert [e for _, e, _ in log][-1] == "refresh_access_token" and log[0][2] == token_digest("tok-a")
    assert all("tok-" not in fp for _, _, fp in log)
    sim.reset_counters()
    assert sim.calls() == 0 and sim.call_log() == []


def test_fault_precedence_and_counts(sim: Simulator) -> None:
    sim.add_token("tok", app_id=APP)
    sim.set_fault("http_error", status=502)
    sim.set_fault("http_error", status=503, token="tok", count=1)
    assert debug(sim, "tok").status_code == 503  # per-token first
    assert debug(sim, "tok").status_code == 502  # count used up: the global one applies
    sim.set_fault("latency", seconds=0.0, endpoint="refresh_access_token")
    assert debug(sim, "tok").status_code == 502
    sim.clear_faults()
    assert debug(sim, "tok").status_code == 200
    with pytest.raises(ValueError):
        sim.set_fault("gremlins")


def test_throttle_headers(sim: Simulator) -> None:
    sim.add_token("tok", app_id=APP)
    sim.set_fault("throttle", minutes=7)
    resp = debug(sim, "tok")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 4
    assert json.loads(resp.headers["X-App-Usage"])["call_count"] == 100
    entry = json.loads(resp.headers["X-Business-Use-Case-Usage"])[APP][0]
    assert entry["estimated_time_to_regain_access"] == 7


def test_refresh_rules(sim: Simulator) -> None:
    sim.add_token("old", app_id=APP, issued_at=time.time() - 2 * DAY)
    sim.add_token("young", app_id=APP, issued_at=time.time() - 3600)
    sim.add_token("noscope", app_id=APP, issued_at=time.time() - 2 * DAY, scopes=["threads_content_publish"])
    body = refresh(sim, "old").json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 5184000 and body["access_token"] != "old"
    assert debug(sim, "old").json()["data"]["is_valid"] is True  # the old string keeps working
    assert debug(sim, body["access_token"]).json()["data"]["is_valid"] is True
    assert refresh(sim, "young").status_code == 400
    assert refresh(sim, "noscope").json()["error"]["code"] == 10
    assert refresh(sim, "nope").json()["error"]["code"] == 190
    assert refresh(sim, "old", grant="other").status_code == 400


def test_unknown_path_is_404(sim: Simulator) -> None:
    assert requests.get(f"{sim.url}/v1.0/me", timeout=5).status_code == 404
    assert (
        requests.get(f"{sim.url}/v19.0/debug_token?input_token=x&access_token=y", timeout=5).status_code
        == 400
    )


def test_response_goes_out_in_one_segment(sim: Simulator) -> None:
    sim.add_token("tok", app_id=APP)
    with socket.create_connection(sim.url.removeprefix("http://").split(":"), timeout=5) as conn:
        request = (
            f"GET /v1.0/debug_token?input_token=tok&access_token={INSPECTOR} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        conn.sendall(request.encode())
        first = conn.recv(65536)  # headers and body arrive together: nothing waits for an ACK
    head, _, body = first.partition(b"\r\n\r\n")
    length = int(
        next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))
    )
    assert len(body) == length and json.loads(body)["data"]["is_valid"] is True


def test_keep_alive_serves_every_call_on_one_connection(sim: Simulator) -> None:
    """200 calls, one TCP connection: no per-call handshake (the calls per second are bench/sweep.py's)."""
    sim.add_token("tok", app_id=APP)
    with requests.Session() as session:
        for _ in range(200):
            answer = session.get(
                f"{sim.url}/v1.0/debug_token", params={"input_token": "tok", "access_token": INSPECTOR}
            )
            assert answer.json()["data"]["is_valid"] is True
        pools = session.get_adapter(sim.url).poolmanager.pools
        keys = pools.keys()  # noqa: SIM118 - urllib3's pool container refuses plain iteration
        assert [(pools[key].num_connections, pools[key].num_requests) for key in keys] == [(1, 200)]


def test_command_line_serves_a_tokens_file(tmp_path: Path) -> None:
    spec = {
        "apps": [{"app_id": "9", "inspector": "CLI-INSPECTOR"}],
        "tokens": [{"token": "cli-tok", "app_id": "9"}],
    }
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "monitor.simulator", "--port", "0", "--tokens", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        params = {"input_token": "cli-tok", "access_token": "CLI-INSPECTOR"}
        assert requests.get(f"{url}/v1.0/debug_token", params=params, timeout=5).json()["data"]["is_valid"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    assert "cli-tok" not in err and "CLI-INSPECTOR" not in err
