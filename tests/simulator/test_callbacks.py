"""The simulator's callbacks to a real receiver: deauthorize on revocation and Meta's data deletion request,
per platform, signed with each app's secret, naming the user (or the Page), answers recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
import requests
from helpers_sim import (
    FB_APP,
    FB_SECRET,
    IG_APP,
    IG_SECRET,
    THREADS_APP,
    THREADS_SECRET,
    add_apps,
    unsign,
)
from receivers import HttpReceiver
from support import free_port, wait_until

from monitor.callbacks.signed import FORM_TYPE, verify_callback
from monitor.simulator import CallbackError, Simulator

TEMPLATE = "/callbacks/{platform}/{app}/{kind}"
SECRETS = {THREADS_APP: THREADS_SECRET, FB_APP: FB_SECRET, IG_APP: IG_SECRET}


@pytest.fixture()
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


@pytest.fixture()
def sim(receiver: HttpReceiver) -> Iterator[Simulator]:
    with Simulator(callback_url=receiver.url(TEMPLATE), data_deletion_url=receiver.url(TEMPLATE)) as s:
        add_apps(s)
        yield s


def signed_of(body: bytes) -> str:
    return parse_qs(body.decode())["signed_request"][0]


def test_a_revocation_on_each_platform_calls_back_its_apps_deauthorize_url(
    sim: Simulator, receiver: HttpReceiver
) -> None:
    for app, user in ((THREADS_APP, "111"), (FB_APP, "222"), (IG_APP, "333")):
        sim.add_token(f"T-{app}", app_id=app, user_id=user)
        sim.revoke(f"T-{app}")
    got = receiver.wait_for(3)
    by_path = {r.path: r for r in got}
    apps = (("threads", THREADS_APP), ("facebook", FB_APP), ("instagram", IG_APP))
    assert set(by_path) == {f"/callbacks/{p}/{a}/deauthorize" for p, a in apps}
    for request in got:
        app = request.path.split("/")[3]
        assert request.method == "POST" and request.headers["Content-Type"] == FORM_TYPE
        payload = unsign(signed_of(request.body), SECRETS[app])
        assert payload["algorithm"] == "HMAC-SHA256" and isinstance(payload["issued_at"], int)
        assert payload["user_id"] == {THREADS_APP: "111", FB_APP: "222", IG_APP: "333"}[app]
        # the monitor's own verifier agrees (it is the other side of this wire)
        verified = verify_callback(request.body, FORM_TYPE, SECRETS[app], payload["issued_at"])
        assert verified.user_id == payload["user_id"]
    wait_until(lambda: len(sim.callbacks_sent()) == 3, 30, "three recorded deliveries")
    assert {(c["kind"], c["status"]) for c in sim.callbacks_sent()} == {("deauthorize", 200)}


def test_a_page_removing_the_app_is_named_by_profile_id(sim: Simulator, receiver: HttpReceiver) -> None:
    sim.add_token("PAGE", app_id=FB_APP, type="PAGE", user_id="222", profile_id="4242")
    sim.revoke("PAGE")
    payload = unsign(signed_of(receiver.wait_for(1)[0].body), FB_SECRET)
    assert payload["profile_id"] == "4242" and "user_id" not in payload


def test_a_data_deletion_request_is_signed_and_its_answer_recorded(
    sim: Simulator, receiver: HttpReceiver
) -> None:
    sim.add_token("FB-USER", app_id=FB_APP, user_id="222")
    answer = {"url": "https://monitor.example/deletion/ABC123", "confirmation_code": "ABC123"}
    receiver.respond(200, {"Content-Type": "application/json"}, json.dumps(answer))
    record = sim.request_data_deletion("FB-USER")
    request = receiver.wait_for(1)[0]
    assert request.path == f"/callbacks/facebook/{FB_APP}/data-deletion"
    assert unsign(signed_of(request.body), FB_SECRET)["user_id"] == "222"
    assert record["answer"] == answer and record["status"] == 200
    assert (record["kind"], record["platform"], record["app_id"], record["id"]) == (
        "data-deletion", "facebook", FB_APP, "222")  # fmt: skip
    assert sim.callbacks_sent() == [record]
    assert sim.token_state("FB-USER")["state"] == "valid"  # a deletion request alone revokes nothing


def test_a_data_deletion_request_may_come_with_the_app_removed(
    sim: Simulator, receiver: HttpReceiver
) -> None:
    sim.add_token("IG-USER", app_id=IG_APP, user_id="333")
    record = sim.request_data_deletion("IG-USER", revoke=True)
    assert sim.token_state("IG-USER")["state"] == "revoked"
    assert record["status"] == 200 and record["answer"] is None  # "ok" is not JSON: recorded as None
    paths = [r.path for r in receiver.wait_for(2)]  # removing the app sends its deauthorize callback after
    assert paths == [f"/callbacks/instagram/{IG_APP}/{kind}" for kind in ("data-deletion", "deauthorize")]


def test_an_apps_own_urls_win_over_the_simulators(sim: Simulator, receiver: HttpReceiver) -> None:
    own = {
        "deauthorize_url": receiver.url("/own/{app}/gone"),
        "data_deletion_url": receiver.url("/own/delete"),
    }
    sim.add_app("30", platform="facebook", app_secret="s30", **own)
    sim.add_token("T30", app_id="30")
    sim.request_data_deletion("T30")
    sim.revoke("T30")
    assert sorted(r.path for r in receiver.wait_for(2)) == ["/own/30/gone", "/own/delete"]


def test_no_secret_or_no_url_means_no_callback(receiver: HttpReceiver) -> None:
    with Simulator(callback_url=receiver.url(TEMPLATE)) as sim:
        sim.add_app("40", platform="facebook")  # no secret: nothing to sign with
        sim.add_token("T40", app_id="40")
        sim.add_app("41", platform="facebook", app_secret="s41")
        sim.add_token("T41", app_id="41")
        sim.revoke("T40")
        with pytest.raises(CallbackError):
            sim.request_data_deletion("T40")
        with pytest.raises(CallbackError):  # no data deletion URL anywhere
            sim.request_data_deletion("T41")
        with pytest.raises(KeyError):
            sim.request_data_deletion("NOBODY-ISSUED-THIS")
        sim.revoke("T41")  # this one does go out (T40's, had it gone, would have started first)
        wait_until(lambda: len(sim.callbacks_sent()) >= 1, 30, "T41's deauthorize callback")
        assert [c["app_id"] for c in sim.callbacks_sent()] == ["41"]
        assert [r.path for r in receiver.requests.items] == ["/callbacks/facebook/41/deauthorize"]


def test_an_undelivered_callback_is_recorded_with_status_0() -> None:
    closed = f"http://127.0.0.1:{free_port()}/callbacks/{{platform}}/{{app}}/{{kind}}"
    with Simulator(data_deletion_url=closed) as sim:
        add_apps(sim)
        sim.add_token("FB-USER", app_id=FB_APP)
        record = sim.request_data_deletion("FB-USER")
    assert (record["status"], record["answer"]) == (0, None)


def test_callbacks_through_the_control_surface(sim: Simulator, receiver: HttpReceiver) -> None:
    sim.add_token("FB-USER", app_id=FB_APP, user_id="222")
    control = f"{sim.url}/__sim"
    url = receiver.url("/elsewhere/{kind}")
    set_url = requests.get(
        f"{control}/callback_url", params={"kind": "data-deletion", "url": url, "app": FB_APP}
    )
    assert set_url.status_code == 200
    receiver.respond(200, {"Content-Type": "application/json"}, '{"url": "u", "confirmation_code": "c1"}')
    record = requests.get(f"{control}/data_deletion", params={"token": "FB-USER", "revoke": "1"}, timeout=10)
    assert record.status_code == 200 and record.json()["answer"]["confirmation_code"] == "c1"
    paths = [r.path for r in receiver.wait_for(2)]
    assert paths == ["/elsewhere/data-deletion", f"/callbacks/facebook/{FB_APP}/deauthorize"]
    wait_until(lambda: len(sim.callbacks_sent()) == 2, 30, "both deliveries recorded")
    sent = requests.get(f"{control}/callbacks", timeout=10).json()["callbacks"]
    assert [(c["kind"], c["id"]) for c in sent] == [("data-deletion", "222"), ("deauthorize", "222")]
    assert sim.token_state("FB-USER")["state"] == "revoked"
    bad_kind = requests.get(f"{control}/callback_url", params={"kind": "nope", "url": url}, timeout=10)
    assert bad_kind.status_code == 400
    sim.add_app("50", platform="facebook")
    sim.add_token("T50", app_id="50")
    assert requests.get(f"{control}/data_deletion", params={"token": "T50"}, timeout=10).status_code == 409
