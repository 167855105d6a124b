"""What the simulator's tests share: one app per platform, and calls over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from monitor.simulator import Simulator

THREADS_APP, THREADS_DEV, THREADS_SECRET = "777", "TH-DEV-TOKEN", "th-secret"
FB_APP, FB_DEV, FB_SECRET = "10", "FB-DEV-TOKEN", "fb-secret"
IG_APP, IG_DEV, IG_SECRET = "20", "IG-DEV-TOKEN", "ig-secret"
FB_APP_TOKEN = f"{FB_APP}|{FB_SECRET}"
IG_APP_TOKEN = f"{IG_APP}|{IG_SECRET}"
NOW = 1_800_000_000.0  # the fixed clock of the `sim` fixture: every horizon in these tests is exact


def add_apps(sim: Simulator, **urls: str) -> None:
    """One app of each platform, each with a developer token and a secret (`urls`: add_app's URL keywords)."""
    sim.add_app(THREADS_APP, THREADS_DEV, application="Threads App", app_secret=THREADS_SECRET, **urls)
    sim.add_app(FB_APP, FB_DEV, platform="facebook", application="FB App", app_secret=FB_SECRET, **urls)
    sim.add_app(IG_APP, IG_DEV, platform="instagram", application="IG App", app_secret=IG_SECRET, **urls)


@contextmanager
def three_platforms(**kwargs: Any) -> Iterator[Simulator]:
    with Simulator(**kwargs) as sim:
        add_apps(sim)
        yield sim


def get(sim: Simulator, path: str, **params: str) -> requests.Response:
    return requests.get(sim.url + path, params=params, timeout=10)


def fb_debug(
    sim: Simulator, token: str, caller: str = FB_APP_TOKEN, version: str = "v25.0"
) -> requests.Response:
    return get(sim, f"/facebook/{version}/debug_token", input_token=token, access_token=caller)


def data(response: requests.Response) -> dict[str, Any]:
    """The `data` of a 200 debug_token answer."""
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def error(response: requests.Response, status: int = 400) -> dict[str, Any]:
    """The `error` of Meta's envelope, checked to be one."""
    assert response.status_code == status, response.text
    err = dict(response.json()["error"])
    assert {"message", "type", "code", "fbtrace_id"} <= set(err)
    return err


def exchange(sim: Simulator, token: str, *, secret: str = FB_SECRET, client_id: str = FB_APP, **extra: str):
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": client_id,
        "client_secret": secret,
        "fb_exchange_token": token,
        **extra,
    }
    return get(sim, "/facebook/v25.0/oauth/access_token", **params)


def unsign(signed: str, secret: str) -> dict[str, Any]:
    """The payload of a `signed_request`, after checking its HMAC-SHA256 signature with `secret`."""
    sig_part, _, payload_part = signed.partition(".")
    expected = hmac.new(secret.encode(), payload_part.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(base64.urlsafe_b64decode(sig_part + "=" * (-len(sig_part) % 4)), expected)
    assert "=" not in signed  # base64url without padding, as Meta sends it
    return dict(json.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4))))
