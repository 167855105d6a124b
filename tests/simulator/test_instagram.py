"""Instagram API with Instagram Login over HTTP: /me, the ig_refresh_token grant, and a debug_token that
describes a token only when told to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_sim import IG_APP, IG_APP_TOKEN, IG_DEV, NOW, data, error, get, three_platforms

from monitor.simulator import DAY, ME, REFRESH, Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with three_platforms(clock=lambda: NOW) as s:
        s.add_token("IG-TOKEN", app_id=IG_APP, user_id="17841400000000001", username="alice",
                    issued_at=NOW - 2 * DAY)  # fmt: skip
        yield s


def me(sim: Simulator, token: str, fields: str = "user_id,username", prefix: str = "/instagram"):
    return get(sim, f"{prefix}/me", fields=fields, access_token=token)


def refresh(sim: Simulator, token: str, grant: str = "ig_refresh_token"):
    return get(sim, "/instagram/refresh_access_token", grant_type=grant, access_token=token)


def test_me_answers_the_fields_of_a_valid_token(sim: Simulator) -> None:
    answer = me(sim, "IG-TOKEN")
    assert answer.status_code == 200
    assert answer.json() == {"user_id": "17841400000000001", "username": "alice", "id": "17841400000000001"}
    assert me(sim, "IG-TOKEN", prefix="/instagram/v25.0").json()["username"] == "alice"
    assert me(sim, "IG-TOKEN", prefix="").json()["username"] == "alice"  # bare: its app is Instagram's
    assert me(sim, "IG-TOKEN", fields="username").json() == {"username": "alice", "id": "17841400000000001"}
    assert error(me(sim, "IG-TOKEN", fields="email"))["code"] == 100
    assert sim.calls("IG-TOKEN", ME) == 5


@pytest.mark.parametrize(
    ("state", "subcode"), [("revoked", 466), ("expired", 463), ("password_changed", 460)]
)
def test_me_refuses_a_dead_token_with_code_190(sim: Simulator, state: str, subcode: int) -> None:
    sim.update_token("IG-TOKEN", state=state)
    refused = error(me(sim, "IG-TOKEN"))
    assert (refused["code"], refused["error_subcode"], refused["type"]) == (190, subcode, "OAuthException")


def test_me_cannot_parse_a_token_nobody_issued(sim: Simulator) -> None:
    refused = error(me(sim, "NOBODY-ISSUED-THIS"))
    assert refused["code"] == 190 and "error_subcode" not in refused


def test_debug_token_does_not_describe_a_token_by_default(sim: Simulator) -> None:
    answer = error(get(sim, "/instagram/debug_token", input_token="IG-TOKEN", access_token=IG_APP_TOKEN))
    assert (answer["code"], answer["error_subcode"]) == (100, 33)


def test_debug_token_can_answer_without_horizons(sim: Simulator) -> None:
    sim.set_instagram_debug("partial")
    answer = data(get(sim, "/instagram/debug_token", input_token="IG-TOKEN", access_token=IG_APP_TOKEN))
    assert answer["is_valid"] is True and answer["user_id"] == "17841400000000001"
    assert not {"issued_at", "expires_at", "data_access_expires_at"} & set(answer)


def test_debug_token_can_describe_a_token_fully(sim: Simulator) -> None:
    sim.set_instagram_debug("full")
    answer = data(get(sim, "/instagram/v25.0/debug_token", input_token="IG-TOKEN", access_token=IG_DEV))
    assert answer["expires_at"] == int(NOW - 2 * DAY + 60 * DAY) and answer["type"] == "USER"
    assert answer["scopes"] == ["instagram_business_basic", "instagram_business_content_publish"]
    with pytest.raises(ValueError, match="mode"):
        sim.set_instagram_debug("sometimes")


def test_ig_refresh_token_gives_a_new_60_day_token(sim: Simulator) -> None:
    answer = refresh(sim, "IG-TOKEN")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"} and body["token_type"] == "bearer"
    assert body["access_token"] != "IG-TOKEN" and body["expires_in"] == 60 * 86400
    renewed = sim.token_state(body["access_token"])
    assert renewed["platform"] == "instagram" and renewed["expires_at"] == NOW + 60 * DAY
    assert me(sim, body["access_token"]).json()["username"] == "alice"
    assert me(sim, "IG-TOKEN").status_code == 200  # the old string lives on until its own expiry
    assert sim.calls("IG-TOKEN", REFRESH, platform="instagram") == 1


def test_ig_refresh_token_rules(sim: Simulator) -> None:
    sim.add_token("IG-YOUNG", app_id=IG_APP, issued_at=NOW - 3600)
    sim.add_token("IG-EXPIRED", app_id=IG_APP, issued_at=NOW - 61 * DAY)
    sim.add_token(
        "IG-NOSCOPE", app_id=IG_APP, issued_at=NOW - 2 * DAY, scopes=["instagram_business_content_publish"]
    )
    assert error(refresh(sim, "IG-YOUNG"))["code"] == 190  # not 24 hours old
    expired = error(refresh(sim, "IG-EXPIRED"))
    assert (expired["code"], expired["error_subcode"]) == (190, 463)
    assert error(refresh(sim, "IG-NOSCOPE"))["code"] == 10
    assert error(refresh(sim, "NOBODY-ISSUED-THIS"))["code"] == 190
    wrong = error(refresh(sim, "IG-TOKEN", grant="th_refresh_token"))
    assert wrong["code"] == 100 and "ig_refresh_token" in wrong["message"]


def test_a_host_does_not_know_another_platforms_tokens(sim: Simulator) -> None:
    threads = get(
        sim, "/threads/refresh_access_token", grant_type="th_refresh_token", access_token="IG-TOKEN"
    )
    assert error(threads)["code"] == 190
    assert get(sim, "/threads/v1.0/me", access_token="IG-TOKEN").status_code == 404  # Threads has no /me here
