"""The registry over HTTP against the real daemon (a child process), the simulator and a webhook receiver:
an API client that creates or replaces a token sees its checked state at once; reads are paged and never
carry a string; and the door is attacked in the same change: missing or wrong bearers, malformed and huge
bodies, odd names, a flood of PUTs that must not starve the checks."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers_callbacks import APP, CallbackWorld
from helpers_daemon import new_secret
from receivers import HttpReceiver
from requests.adapters import HTTPAdapter
from sqlalchemy import select, update
from support import wait_until

from monitor.db.models import Token, TokenEvent
from monitor.db.session import transaction
from monitor.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str, sim: Simulator, hook: HttpReceiver) -> Iterator[CallbackWorld]:
    w = CallbackWorld.make(tmp_path, sqlite_url, sim, hook)
    yield w
    w.fleet.close()
    assert w.scan() == [], "a token, inspector or API token appeared in the output"


class _From(HTTPAdapter):
    """Connections from a given local address (127.0.0.2 is as local as 127.0.0.1, and another client)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class Api:
    """A client of /api/v1/tokens that records every answer for the secrets scan."""

    def __init__(self, world: CallbackWorld, bearer: str | None = None, source: str = "127.0.0.1") -> None:
        self.base = f"{world.callbacks_url}/api/v1/tokens"
        self.bearer = world.api_token if bearer is None else bearer
        self.answers: list[str] = []
        self.http = requests.Session()  # from `source`: the listener throttles guessing per client address
        self.http.mount("http://", _From(source))

    def __call__(self, method: str, path: str = "", body: Any = None, *, raw: bytes | None = None,
                 bearer: str | None | bool = True) -> requests.Response:  # fmt: skip
        headers = {"Content-Type": "application/json"}
        token = self.bearer if bearer is True else bearer
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        response = self.http.request(method, self.base + path, data=data, headers=headers, timeout=15)
        self.answers.append(response.text)
        return response


def test_an_api_client_that_replaces_a_token_sees_its_state_within_one_check(
    world: CallbackWorld, sim: Simulator
) -> None:
    api = Api(world)
    (dead,) = world.fleet.add_tokens(APP, 1, state="revoked", prefix="dead")
    fresh, renewed = new_secret("tok"), new_secret("tok")
    sim.add_token(fresh, app_id=APP)
    sim.add_token(renewed, app_id=APP)
    with world.daemon():
        wait_until(lambda: world.rows()[dead].last_result == "invalid", 60, "the dead token's first check")
        created = api("PUT", "/acme", {"app": APP, "token": fresh, "labels": {"team": "x"}})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["created"] is True and body["labels"] == {"team": "x"} and body["app"] == APP
        if body["checked"]:  # answered within the PUT's short wait: the state of the new string
            assert body["state"] == "ok" and body["last_result"] == "valid"
        wait_until(lambda: api("GET", "/acme").json()["last_result"] == "valid", 30, "acme checked once")

        replaced = api("PUT", f"/{dead}", {"token": renewed})  # app and labels kept
        assert replaced.status_code == 200 and replaced.json()["created"] is False
        calls = sim.calls(renewed, "debug_token")
        wait_until(lambda: api("GET", f"/{dead}").json()["state"] == "ok", 30, "the replaced token's state")
        assert sim.calls(renewed, "debug_token") <= calls + 1  # within one check of the new string
        world.wait_checked([dead])
        got = api("GET", f"/{dead}").json()
        assert got["fingerprint"] == world.fleet.rows()[dead].fingerprint and got["last_result"] == "valid"
        unchanged = api("PUT", f"/{dead}", {"token": renewed})
        assert unchanged.status_code == 200 and unchanged.json()["checked"] is False  # no new string, no call

        muted = api("POST", "/acme/mute", {"for": "7d", "comment": "on leave"})
        assert (
            muted.status_code == 200
            and muted.json()["muted_until"]
            and muted.json()["mute_comment"] == "on leave"
        )
        assert api("DELETE", "/acme/mute").json()["muted_until"] is None

        first = api("GET", "?limit=1")
        assert first.status_code == 200 and len(first.json()["tokens"]) == 1
        names, page = [], first.json()
        while True:
            names += [t["name"] for t in page["tokens"]]
            if not page["next_cursor"]:
                break
            page = api("GET", f"?limit=1&cursor={page['next_cursor']}").json()
        assert names == sorted(world.rows())
        invalid = api("GET", f"?state=ok&app={APP}").json()["tokens"]
        assert {t["name"] for t in invalid} == {"acme", dead}

        assert api("DELETE", "/acme").status_code == 204
        assert api("GET", "/acme").status_code == 404
        metrics = world.metrics()
    with world.fleet.ctx.sessions() as s:
        changes = s.execute(
            select(TokenEvent.kind, TokenEvent.via).join(Token).where(Token.name == dead)
        ).all()
    assert [tuple(c) for c in changes] == [("replaced", "api")]  # the history shows the replacement
    for line in ('operation="put",outcome="created"} 1.0', 'operation="delete",outcome="ok"} 1.0'):
        assert f"threads_monitor_registry_requests_total{{{line}" in metrics
    world.scraped += api.answers
    assert all(s not in "\n".join(api.answers) for s in (fresh, renewed, world.api_token))


HOSTILE: dict[str, tuple[str, str, Any, int, str]] = {
    # what: (method, path, body (bytes: raw), status, words of the answer)
    "malformed JSON": ("PUT", "/x1", b'{"app": "growth", "token": ', 400, "not JSON"),
    "not an object": ("PUT", "/x1", b"[1, 2]", 400, "JSON object"),
    "deep nesting": ("PUT", "/x1", b"[" * 5000 + b"]" * 5000, 400, "not JSON"),
    "not UTF-8": ("PUT", "/x1", b'{"token": "\xff\xfe"}', 400, "not JSON"),
    "unknown field": ("PUT", "/x1", {"app": APP, "token": "THAAzz1", "admin": True}, 400, "unknown field"),
    "token not a string": ("PUT", "/x1", {"app": APP, "token": 12}, 400, "token must be a string"),
    "token with a space": ("PUT", "/x1", {"app": APP, "token": "THAA zz"}, 400, "whitespace"),
    "labels not strings": ("PUT", "/x1", {"app": APP, "token": "THAAzz1", "labels": {"a": 1}}, 400, "labels"),
    "reserved label": (
        "PUT",
        "/x1",
        {"app": APP, "token": "THAAzz1", "labels": {"app": "x"}},
        400,
        "reserved",
    ),
    "unknown app": ("PUT", "/x1", {"app": "nope", "token": "THAAzz1"}, 400, "no app named"),
    "new without app": ("PUT", "/x1", {"token": "THAAzz1"}, 400, "needs an app"),
    "NUL in the name": ("PUT", "/a%00b", {"app": APP, "token": "THAAzz1"}, 404, "not found"),
    "dot dot": ("GET", "/%2E%2E", None, 400, "not valid"),
    "bad UTF-8 name": ("GET", "/%ff%fe", None, 400, "not UTF-8"),
    "name too long": ("GET", "/" + "n" * 201, None, 400, "not valid"),
    "extra segment": ("GET", "/a/b/c", None, 404, "no such"),
    "other sub-resource": ("POST", "/a/labels", {}, 404, "no such"),
    "mute unknown token": ("POST", "/nobody/mute", {"for": "1d"}, 404, "no token named"),
    "mute in the past": ("POST", "/acme/mute", {"until": "2001-01-01T00:00Z"}, 400, "in the past"),
    "mute both": ("POST", "/acme/mute", {"for": "1d", "until": "2030-01-01"}, 400, "how long"),
    "mute not a duration": ("POST", "/acme/mute", {"for": "soon"}, 400, "invalid duration"),
    "bad cursor": ("GET", "?cursor=bm90LWEtY3Vyc29y", None, 400, "cursor"),
    "bad state": ("GET", "?state=sleepy", None, 400, "state must be"),
    "bad limit": ("GET", "?limit=100000", None, 400, "limit"),
    "delete unknown": ("DELETE", "/nobody", None, 404, "no token named"),
}


def test_the_registry_api_refuses_what_it_must_and_echoes_no_secret(
    world: CallbackWorld, sim: Simulator
) -> None:
    api = Api(world)
    shaped = "THAAsecretlookingname1234567890"  # a token-shaped name: refused, never repeated
    with world.daemon():
        assert api("PUT", "/acme", {"app": APP, "token": new_secret("tok")}).status_code == 201
        for what, (method, path, body, status, words) in HOSTILE.items():
            raw = body if isinstance(body, bytes) else None
            answer = api(method, path, None if raw is not None else body, raw=raw)
            assert (answer.status_code, words in answer.text) == (status, True), (what, answer.text)
        answer = api("PUT", f"/{shaped}", {"app": APP, "token": "THAAzz1"})
        assert (
            answer.status_code == 400
            and shaped not in answer.text
            and "looks like an access token" in answer.text
        )
        # A name with a slash travels encoded, and is one token.
        assert api("PUT", "/team%2Facme", {"app": APP, "token": new_secret("tok")}).status_code == 201
        assert api("GET", "/team%2Facme").json()["name"] == "team/acme"
        assert api("DELETE", "/team%2Facme").status_code == 204
        # Over 64 KiB: 413 (401 without the bearer), never read.
        huge = b'{"app": "growth", "token": "' + b"A" * (70 * 1024) + b'"}'
        assert api("PUT", "/acme", raw=huge).status_code == 413
        assert api("PUT", "/acme", raw=huge, bearer=False).status_code == 401
        # Wrong or missing bearer from another client: 401 whatever the request, and nothing done; after
        # ten, 429 (the listener's throttle on guessing), the right token included, while others go on.
        guesser, statuses = Api(world, source="127.0.0.2"), []
        for bearer in (False, "wrong-token", world.api_token + "x", "", "Basic x"):
            for method, path in (("GET", "/acme"), ("PUT", "/acme"), ("DELETE", "/acme"), ("GET", "")):
                answer = guesser(method, path, {"app": APP, "token": "THAAzz1"}, bearer=bearer)
                statuses.append(answer.status_code)
        assert statuses == [401] * 10 + [429] * 10, statuses
        assert guesser("GET", "/acme").status_code == 429
        api.answers += guesser.answers
        assert api("GET", "/acme").status_code == 200  # still there, and this client is not throttled
        assert api("PATCH", "/acme", {}).status_code == 405
        metrics = world.metrics()
    for outcome in ("bad_request", "unauthorized", "throttled", "too_large", "not_found"):
        counted = [
            line for line in metrics.splitlines() if f'outcome="{outcome}"' in line and "registry" in line
        ]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) > 0, outcome
    world.scraped += api.answers


def test_a_flood_of_puts_does_not_starve_the_checks(world: CallbackWorld, sim: Simulator) -> None:
    api = Api(world)
    (victim,) = world.fleet.add_tokens(APP, 1, prefix="victim")
    strings = [new_secret("tok") for _ in range(60)]
    for s in strings:
        sim.add_token(s, app_id=APP)
    sim.set_fault("latency", seconds=0.05)
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def flood(offset: int) -> None:
        i = offset
        while not stop.is_set():
            answer = api("PUT", f"/flood-{i % 20:02d}", {"app": APP, "token": strings[i % len(strings)]})
            statuses[answer.status_code] += 1
            i += 3

    with world.daemon():
        world.wait_checked([victim])
        with transaction(world.fleet.ctx.sessions) as s:  # the victim falls due while the flood runs
            s.execute(update(Token).where(Token.name == victim).values(next_check_at=0, last_check_at=None))
        threads = [threading.Thread(target=flood, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: sum(statuses.values()) >= 30, 60, "30 PUTs served")
            wait_until(lambda: world.rows()[victim].last_check_at is not None, 60, "the scheduled check")
            recheck = world.recheck({"token": victim}, world.api_token)
            assert recheck.status_code == 202
        finally:
            stop.set()
            for t in threads:
                t.join(30)
    assert set(statuses) <= {200, 201, 503}, statuses  # answered, or refused as busy: never a failure
    assert statuses[200] + statuses[201] >= 20
    world.scraped += api.answers
