"""Callbacks per platform (SPEC 16), on monitor.callbacks.server over 127.0.0.1 with recorders for what a
daemon would do: each app's callbacks are taken on its own platform's path only, the data deletion door
answers Meta's JSON (the listener's own URL unless a public URL is given) and a 503 when it cannot be done.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests

from monitor.callbacks import CallbackServer, Deauthorization, DeletionHooks, DeletionRecord, sign_request
from monitor.callbacks.signed import verify_signed_request

NOW = 1_750_000_000
SECRETS = {"growth": "growth-app-secret-THAA0123456789", "pages": "pages-app-secret-EAA0123456789"}
PLATFORM = {"growth": "threads", "pages": "facebook"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GUARD = 15.0


class Door:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.deauthorized: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str, Deauthorization]] = []
        self.failing = False
        self.public_url: str | None = None

    def on_deauthorize(self, app: str, user_id: str, issued_at: int, body: bytes, content_type: str) -> bool:
        self.deauthorized.append((app, user_id))
        return True

    def on_data_deletion(
        self, app: str, platform: str, verified: Deauthorization, secret: str
    ) -> tuple[DeletionRecord, bool]:
        if self.failing:
            raise RuntimeError(f"database is locked ({secret})")
        self.deleted.append((app, platform, verified))
        return DeletionRecord("C0DE" * 8, app, platform, NOW, {}), False


@pytest.fixture
def door(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[Door, CallbackServer]]:
    caplog.set_level(logging.DEBUG)
    door = Door()
    server = CallbackServer(
        secret_for=SECRETS.get,
        on_deauthorize=door.on_deauthorize,
        on_recheck=lambda request: 0,
        count=lambda kind, outcome: door.counts.update([(kind, outcome)]),
        now=lambda: NOW,
        platform_of=PLATFORM.get,
        deletion=DeletionHooks(door.on_data_deletion, lambda code: None, lambda: door.public_url),
    )
    server.start()
    yield door, server
    server.stop()
    assert not any(secret in caplog.text for secret in SECRETS.values())


def post(server: CallbackServer, path: str, user: str, secret: str, **kw: str) -> requests.Response:
    body = urlencode({"signed_request": sign_request(user, NOW - 5, secret, **kw)})
    return requests.post(f"{server.url}{path}", data=body, headers=FORM, timeout=GUARD)


def test_each_apps_callbacks_come_on_its_platforms_path(door: tuple[Door, CallbackServer]) -> None:
    rec, server = door
    answers = [
        post(server, "/callbacks/threads/growth/deauthorize", "1", SECRETS["growth"]).status_code,
        post(server, "/callbacks/facebook/pages/deauthorize", "2", SECRETS["pages"]).status_code,
        post(server, "/callbacks/facebook/growth/deauthorize", "3", SECRETS["growth"]).status_code,
        post(server, "/callbacks/instagram/pages/deauthorize", "4", SECRETS["pages"]).status_code,
        post(server, "/callbacks/Threads/growth/deauthorize", "5", SECRETS["growth"]).status_code,
    ]
    assert answers == [200, 200, 400, 400, 400]
    assert rec.deauthorized == [("growth", "1"), ("pages", "2")]
    assert rec.counts == Counter({("deauthorize", "accepted"): 2, ("deauthorize", "unknown_app"): 3})


def test_data_deletion_answers_metas_json(door: tuple[Door, CallbackServer]) -> None:
    rec, server = door
    path = "/callbacks/facebook/pages/data-deletion"
    answer = post(server, path, "1040000000001", SECRETS["pages"], subject="profile_id")
    code = "C0DE" * 8
    assert answer.json() == {"url": f"{server.url}/deletion/{code}", "confirmation_code": code}
    assert rec.deleted == [("pages", "facebook", Deauthorization("1040000000001", NOW - 5, "profile_id"))]
    rec.public_url = "https://monitor.example.com"
    answer = post(server, path, "1040000000001", SECRETS["pages"])
    assert answer.json()["url"] == f"https://monitor.example.com/deletion/{code}"
    assert rec.counts == Counter({("data_deletion", "accepted"): 2})


def test_a_deletion_that_cannot_be_done_is_503_so_meta_retries(door: tuple[Door, CallbackServer]) -> None:
    rec, server = door
    rec.failing = True
    answer = post(server, "/callbacks/threads/growth/data-deletion", "1", SECRETS["growth"])
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert rec.counts == Counter() and rec.deleted == []


def test_a_payload_names_a_user_or_a_page_and_nothing_else() -> None:
    from monitor.callbacks import SignedRequestError
    from monitor.callbacks.signed import named_id

    page = sign_request("104", NOW, "k", subject="profile_id")
    assert verify_signed_request(page, "k", NOW) == Deauthorization("104", NOW, "profile_id")
    assert named_id(page) == "104" and named_id("x.y") is None
    with pytest.raises(SignedRequestError, match="bad_request"):
        verify_signed_request(sign_request("104", NOW, "k", subject="page_id"), "k", NOW)
