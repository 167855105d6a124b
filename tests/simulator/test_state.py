"""The simulated world without HTTP (MetaApi): kinds and their defaults, routing, the control methods, the
grants' bookkeeping, counters and faults per platform. Time is an injected clock."""

from __future__ import annotations

import pytest
from helpers_sim import NOW

from monitor.simulator import DAY, DEBUG, EXCHANGE, ME, REFRESH, MetaApi, ThreadsApi


@pytest.fixture()
def api() -> MetaApi:
    world = MetaApi(clock=lambda: NOW)
    world.add_app("1", "TH-DEV")
    world.add_app("2", "FB-DEV", platform="facebook", app_secret="s2", application="FB App")
    world.add_app("3", "IG-DEV", platform="instagram", app_secret="s3")
    return world


def test_the_old_name_still_works() -> None:
    assert ThreadsApi is MetaApi


def test_defaults_follow_the_kind(api: MetaApi) -> None:
    for kind in ("USER", "PAGE", "SYSTEM_USER", "APP"):
        api.add_token(kind, app_id="2", type=kind)
    user, page, system, app = (api.token_state(k) for k in ("USER", "PAGE", "SYSTEM_USER", "APP"))
    assert (user["issued_at"], user["expires_at"], user["data_access_expires_at"]) == (
        NOW - DAY, NOW + 59 * DAY, NOW + 89 * DAY)  # fmt: skip
    assert (page["expires_at"], page["data_access_expires_at"], page["profile_id"]) == (
        0,
        NOW + 89 * DAY,
        "2000",
    )
    assert (system["expires_at"], system["data_access_expires_at"]) == (0, 0)
    assert app["scopes"] == [] and app["granular_scopes"] is None
    assert set(app["omit"]) == {"issued_at", "expires_at", "data_access_expires_at", "user_id"}
    assert all(api.token_state(k)["platform"] == "facebook" for k in ("USER", "PAGE", "SYSTEM_USER", "APP"))


def test_scopes_default_per_platform(api: MetaApi) -> None:
    api.add_token("TH", app_id="1")
    api.add_token("IG", app_id="3")
    api.add_token("ORPHAN", app_id="999")  # an app nobody registered: Threads, as the simulator always was
    assert api.token_state("TH")["scopes"] == ["threads_basic", "threads_content_publish"]
    assert api.token_state("TH")["granular_scopes"] is None
    assert api.token_state("IG")["granular_scopes"] == [
        {"scope": "instagram_business_basic"}, {"scope": "instagram_business_content_publish"}]  # fmt: skip
    assert api.token_state("ORPHAN")["platform"] == "threads"


def test_bad_registrations_are_refused(api: MetaApi) -> None:
    with pytest.raises(ValueError, match="platform"):
        api.add_app("9", platform="myspace")
    with pytest.raises(ValueError, match="app state"):
        api.add_app("9", state="sleepy")
    with pytest.raises(ValueError, match="token state"):
        api.add_token("X", app_id="2", state="sleepy")
    with pytest.raises(ValueError, match="granular"):
        api.add_token("X", app_id="2", granular_scopes=[{"targets": ["1"]}])
    with pytest.raises(ValueError, match="token state"):
        api.update_token("X", state="sleepy")
    with pytest.raises(KeyError):
        api.token_state("X")  # nothing above registered it


def test_routing(api: MetaApi) -> None:
    api.add_token("FB", app_id="2")
    api.add_token("IG", app_id="3")
    route = api.route
    assert route("/v1.0/debug_token", {"input_token": "T", "access_token": "TH-DEV"}) == (
        "threads",
        DEBUG,
        "T",
    )
    assert route("/v25.0/debug_token/", {"input_token": "FB", "access_token": "2|s2"}) == (
        "facebook",
        DEBUG,
        "FB",
    )
    assert route("/facebook/oauth/access_token", {"fb_exchange_token": "FB"}) == ("facebook", EXCHANGE, "FB")
    assert route("/v25.0/oauth/access_token", {"client_id": "2"}) == ("facebook", EXCHANGE, "")
    assert route("/me", {"access_token": "IG"}) == ("instagram", ME, "IG")
    assert route("/instagram/v25.0/refresh_access_token", {"access_token": "X"}) == (
        "instagram",
        REFRESH,
        "X",
    )
    assert route("/me", {"access_token": "UNKNOWN"}) is None  # Threads serves no /me
    assert route("/threads/v1.0/oauth/access_token", {}) is None
    assert route("/v1.0", {}) is None and route("/", {}) is None
    pinned = MetaApi(default_platform="instagram")
    assert pinned.route("/me", {}) == ("instagram", ME, "")


def test_a_token_made_never_expiring_outlives_its_expiry(api: MetaApi) -> None:
    clock = [NOW]
    world = MetaApi(clock=lambda: clock[0])
    world.add_app("2", platform="facebook", app_secret="s2")
    world.add_token("T", app_id="2")
    world.make_never_expiring("T")
    clock[0] += 400 * DAY
    assert world.token_state("T")["state"] == "valid" and world.token_state("T")["expires_at"] == 0
    status, body, _ = world.answer(world.route("/facebook/debug_token", {}) or pytest.fail(),
                                   {"input_token": "T", "access_token": "2|s2"})  # fmt: skip
    assert status == 200 and body["data"]["expires_at"] == 0 and body["data"]["is_valid"] is True


def test_granular_targets_shrink_grow_and_open(api: MetaApi) -> None:
    api.add_token("PAGE", app_id="2", type="PAGE",
                  granular_scopes=[{"scope": "pages_show_list", "target_ids": ["1", "2", "3"]}])  # fmt: skip
    api.set_granular_targets("PAGE", "pages_show_list", ["1"])
    api.set_granular_targets("PAGE", "pages_manage_posts", [4, 5])
    assert api.token_state("PAGE")["granular_scopes"] == [
        {"scope": "pages_show_list", "target_ids": ["1"]},
        {"scope": "pages_manage_posts", "target_ids": ["4", "5"]},
    ]
    api.set_granular_targets("PAGE", "pages_show_list", None)  # applies to all again
    assert api.token_state("PAGE")["granular_scopes"][0] == {"scope": "pages_show_list"}
    with pytest.raises(KeyError):
        api.set_granular_targets("NOPE", "pages_show_list", [])


def test_the_compatible_answers_speak_the_tokens_platform(api: MetaApi) -> None:
    api.add_token("TH", app_id="1", issued_at=NOW - 2 * DAY)
    api.add_token("IG", app_id="3", issued_at=NOW - 2 * DAY)
    assert api.debug_answer("TH", "TH-DEV")[1]["data"]["is_valid"] is True
    status, body, _ = api.refresh_answer("TH", "th_refresh_token")
    assert status == 200 and body["access_token"].startswith("THAA") and body["expires_in"] == 60 * 86400
    status, body, _ = api.refresh_answer("IG", "ig_refresh_token")
    assert status == 200 and body["access_token"].startswith("IGAA")
    assert api.token_state(body["access_token"])["expires_at"] == NOW + 60 * DAY
    assert api.refresh_answer("IG", "th_refresh_token")[0] == 400


def test_refresh_lags_keeps_the_old_expiry(api: MetaApi) -> None:
    api.add_token("TH", app_id="1", issued_at=NOW - 2 * DAY)
    api.update_token("TH", refresh_lags=True)
    new = api.refresh_answer("TH", "th_refresh_token")[1]["access_token"]
    assert api.token_state(new)["expires_at"] == api.token_state("TH")["expires_at"]


def test_counters_and_faults_per_platform(api: MetaApi) -> None:
    api.set_fault("http_error", endpoint=DEBUG, platform="facebook", count=1)
    api.set_fault("usage", percent=50)
    assert [f.kind for f in api.record_call(DEBUG, "T", "threads")] == ["usage"]
    assert [f.kind for f in api.record_call(DEBUG, "T", "facebook")] == ["usage", "http_error"]
    assert [f.kind for f in api.record_call(DEBUG, "T", "facebook")] == ["usage"]  # its count is used up
    api.record_call(ME, "U", "instagram")
    assert (api.calls(), api.calls("T"), api.calls(platform="facebook"), api.calls(endpoint=ME)) == (
        4,
        3,
        2,
        1,
    )
    assert api.calls("T", DEBUG, "threads") == 1
    with pytest.raises(ValueError, match="fault kind"):
        api.set_fault("gremlins")


def test_revoke_reports_what_a_callback_needs(api: MetaApi) -> None:
    api.add_token("FB", app_id="2", user_id="77")
    assert api.revoke("FB") == ("2", "77", "s2")
    assert api.token_state("FB")["state"] == "revoked"
    with pytest.raises(KeyError):
        api.revoke("NOPE")
