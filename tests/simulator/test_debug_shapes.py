"""debug_token answer shapes over HTTP, kind by kind: the superset of fields, each optional; the errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_sim import (
    FB_APP,
    FB_APP_TOKEN,
    FB_DEV,
    IG_APP,
    IG_APP_TOKEN,
    NOW,
    THREADS_APP,
    THREADS_DEV,
    data,
    error,
    fb_debug,
    get,
    three_platforms,
)

from monitor.simulator import DAY, Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    """One app of each platform, on a clock fixed at NOW."""
    with three_platforms(clock=lambda: NOW) as started:
        yield started


def test_an_app_token_answer_has_no_horizons_and_no_user(sim: Simulator) -> None:
    sim.add_token("APP-TOKEN", app_id=FB_APP, type="APP")
    assert data(fb_debug(sim, "APP-TOKEN")) == {
        "app_id": FB_APP,
        "type": "APP",
        "application": "FB App",
        "is_valid": True,
        "scopes": [],
    }


def test_a_page_token_never_expires_and_keeps_a_data_access_horizon(sim: Simulator) -> None:
    issued = int(NOW - DAY)
    granted = [{"scope": "pages_show_list", "target_ids": ["42", "43"]}, {"scope": "pages_manage_posts"}]
    sim.add_token("PAGE-TOKEN", app_id=FB_APP, type="PAGE", profile_id="42", issued_at=issued,
                  granular_scopes=granted, metadata={"auth_type": "rerequest", "sso": "ios"})  # fmt: skip
    answer = data(fb_debug(sim, "PAGE-TOKEN"))
    assert (answer["type"], answer["expires_at"], answer["profile_id"]) == ("PAGE", 0, "42")
    assert answer["data_access_expires_at"] == issued + 90 * 86400 and answer["issued_at"] == issued
    assert answer["granular_scopes"] == granted and answer["metadata"] == {
        "auth_type": "rerequest",
        "sso": "ios",
    }
    assert answer["is_valid"] is True and answer["user_id"] == "1000" and "error" not in answer


def test_system_user_tokens_never_expire_or_live_60_days(sim: Simulator) -> None:
    sim.add_token("SYS-NEVER", app_id=FB_APP, type="SYSTEM_USER", user_id="5000")
    sim.add_token("SYS-60", app_id=FB_APP, type="SYSTEM_USER", issued_at=NOW, expires_at=NOW + 60 * DAY)
    never = data(fb_debug(sim, "SYS-NEVER"))
    assert (never["type"], never["expires_at"], never["data_access_expires_at"]) == ("SYSTEM_USER", 0, 0)
    assert never["user_id"] == "5000" and {"scope": "business_management"} in never["granular_scopes"]
    assert data(fb_debug(sim, "SYS-60"))["expires_at"] == int(NOW + 60 * DAY)


def test_a_facebook_long_lived_user_token_lives_about_60_days(sim: Simulator) -> None:
    sim.add_token("FB-USER", app_id=FB_APP, issued_at=NOW)
    answer = data(fb_debug(sim, "FB-USER", caller=FB_DEV))  # a developer of the app may inspect too
    assert answer["type"] == "USER" and answer["expires_at"] - answer["issued_at"] == 60 * 86400
    assert answer["granular_scopes"] == [{"scope": s} for s in answer["scopes"]]  # no targets: all


def test_threads_answers_keep_their_subset(sim: Simulator) -> None:
    """Threads documents a subset of the Facebook fields: no granular_scopes unless a token has some."""
    sim.add_token("TH-TOKEN", app_id=THREADS_APP)
    answer = data(get(sim, "/v1.0/debug_token", input_token="TH-TOKEN", access_token=THREADS_DEV))
    assert set(answer) == {"app_id", "type", "application", "data_access_expires_at", "expires_at",
                           "is_valid", "issued_at", "scopes", "user_id"}  # fmt: skip
    assert answer["scopes"] == ["threads_basic", "threads_content_publish"]


def test_any_field_can_be_left_out(sim: Simulator) -> None:
    sim.add_token("BARE", app_id=FB_APP, omit=["expires_at", "data_access_expires_at", "granular_scopes"])
    answer = data(fb_debug(sim, "BARE"))
    assert not {"expires_at", "data_access_expires_at", "granular_scopes"} & set(answer)
    with pytest.raises(ValueError, match="omit"):
        sim.add_token("X", app_id=FB_APP, omit=["expiry"])


@pytest.mark.parametrize(
    ("state", "subcode"),
    [("expired", 463), ("password_changed", 460), ("revoked", 466), ("data_access_expired", 493),
     ("app_removed", 458), ("session_invalid", 492)],
)  # fmt: skip
def test_dead_tokens_carry_their_subcode_on_every_platform(sim: Simulator, state: str, subcode: int) -> None:
    sim.set_instagram_debug("full")
    calls = {
        "threads": (THREADS_APP, "/threads/v1.0/debug_token", THREADS_DEV),
        "facebook": (FB_APP, "/facebook/v25.0/debug_token", FB_APP_TOKEN),
        "instagram": (IG_APP, "/instagram/v25.0/debug_token", IG_APP_TOKEN),
    }
    for platform, (app, path, caller) in calls.items():
        sim.add_token(f"DEAD-{platform}", app_id=app, state=state)
        answer = data(get(sim, path, input_token=f"DEAD-{platform}", access_token=caller))
        assert answer["is_valid"] is False, platform
        assert answer["error"]["code"] == 190 and answer["error"]["subcode"] == subcode, platform
        assert answer["error"]["message"].startswith("Error validating access token"), platform


def test_an_expiry_passing_makes_a_token_expired_but_never_one_that_never_expires() -> None:
    now = [1_000_000.0]
    with three_platforms(clock=lambda: now[0]) as sim:
        sim.add_token("USER", app_id=FB_APP)
        sim.add_token("PAGE", app_id=FB_APP, type="PAGE")
        now[0] += 365 * DAY
        assert data(fb_debug(sim, "USER"))["error"]["subcode"] == 463
        assert data(fb_debug(sim, "PAGE"))["is_valid"] is True


def test_unknown_input_tokens_cannot_be_parsed(sim: Simulator) -> None:
    assert data(fb_debug(sim, "NOBODY-ISSUED-THIS")) == {
        "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
        "is_valid": False,
        "scopes": [],
    }
    sim.add_token("GARBAGE", app_id=FB_APP, state="garbage")
    assert data(fb_debug(sim, "GARBAGE"))["is_valid"] is False


def test_bad_callers_get_the_400_envelope(sim: Simulator) -> None:
    sim.add_token("FB-USER", app_id=FB_APP)
    sim.add_app("11", "OTHER-DEV", platform="facebook", app_secret="other")
    assert error(fb_debug(sim, "FB-USER", caller="NOT-A-CREDENTIAL"))["code"] == 190
    assert error(fb_debug(sim, "FB-USER", caller=f"{FB_APP}|wrong-secret"))["code"] == 190
    mismatch = error(fb_debug(sim, "FB-USER", caller="11|other"))
    assert mismatch["code"] == 100 and "did not match" in mismatch["message"]
    sim.add_app("12", "DEV-OF-12", platform="facebook", state="dev_mode", app_secret="s12")
    sim.add_token("T12", app_id="12")
    assert error(fb_debug(sim, "T12", caller="DEV-OF-12"))["code"] == 100
    assert data(fb_debug(sim, "T12", caller="12|s12"))["is_valid"] is True  # its app token still may


def test_any_graph_version_is_accepted(sim: Simulator) -> None:
    sim.add_token("FB-USER", app_id=FB_APP)
    for version in ("v19.0", "v25.0", "v99.0"):
        assert data(fb_debug(sim, "FB-USER", version=version))["is_valid"] is True
    unversioned = get(sim, "/facebook/debug_token", input_token="FB-USER", access_token=FB_APP_TOKEN)
    assert data(unversioned)["is_valid"] is True
