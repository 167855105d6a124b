"""The registry API as a component on a real listener (monitor.httpd on port 0) and a real database, with
what the daemon would give it as plain callables: a source's token is edited at its source (409, counted),
writes beyond MAX_WRITERS are refused busy rather than queued, and a database failure is a 503, not a 500."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers_daemon import Fleet, make_fleet
from sqlalchemy import update

from monitor.api import RegistryApi
from monitor.api.server import MAX_WRITERS
from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.httpd import HttpServer, Request, Response
from monitor.simulator import Simulator
from monitor.state import Horizons

BEARER = "component-test-bearer-0123456789"


@pytest.fixture
def fleet(tmp_path: Path, sqlite_url: str) -> Iterator[Fleet]:
    with Simulator() as sim:
        f = make_fleet(tmp_path, sqlite_url, sim)
        f.add_app("growth")
        yield f
        f.close()


class Served:
    def __init__(self, fleet: Fleet) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.woken = 0
        self.api = RegistryApi(
            sessions=fleet.ctx.sessions,
            vault=fleet.ctx.vault,
            refusal=lambda r: (
                None
                if r.header("authorization") == f"Bearer {BEARER}"
                else Response.text(401, "unauthorized")
            ),
            wake=self.wake,
            horizons=Horizons,
            sources=lambda: {"app-db"},
            count=lambda op, outcome: self.counts.update([(op, outcome)]),
            check_wait=0.0,
        )
        self.http = HttpServer(self.api.routes(), port=0)

    def wake(self) -> None:
        self.woken += 1

    def __call__(self, method: str, path: str, body: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {BEARER}"}
        return requests.request(
            method, f"{self.http.url}/api/v1/tokens{path}", data=body, headers=headers, timeout=10
        )


@pytest.fixture
def served(fleet: Fleet) -> Iterator[Served]:
    s = Served(fleet)
    s.http.start()
    yield s
    s.http.stop()


def test_a_source_token_is_edited_at_its_source(served: Served, fleet: Fleet) -> None:
    (name,) = fleet.add_tokens("growth", 1)
    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(source="app-db"))
    before = fleet.rows()[name].fingerprint
    for method, body in (("PUT", '{"token": "THAAother123"}'), ("DELETE", None)):
        answer = served(method, f"/{name}", body)
        assert answer.status_code == 409 and "belongs to source 'app-db'" in answer.json()["error"]
    assert fleet.rows()[name].fingerprint == before
    assert served("POST", f"/{name}/mute", '{"for": "1d"}').status_code == 200  # a mute is not an edit
    assert served.counts[("put", "conflict")] == 1 and served.counts[("delete", "conflict")] == 1
    created = served("PUT", "/fresh", '{"app": "growth", "token": "THAAfresh123"}')
    assert created.status_code == 201 and created.json()["checked"] is False and served.woken == 1


def test_writes_beyond_the_limit_are_refused_busy_not_queued(served: Served, fleet: Fleet) -> None:
    gate, entered = threading.Event(), threading.Semaphore(0)
    real = served.api._put

    def slow_put(request: Request) -> object:
        entered.release()
        gate.wait(10)
        return real(request)

    served.api._put = slow_put  # type: ignore[method-assign]
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda i=i: answers.append(
                served("PUT", f"/w{i}", '{"app": "growth", "token": "THAAw1"}').status_code
            )
        )
        for i in range(MAX_WRITERS)
    ]
    for t in threads:
        t.start()
    for _ in range(MAX_WRITERS):
        assert entered.acquire(timeout=10)  # every writer slot is taken
    busy = served("PUT", "/one-more", '{"app": "growth", "token": "THAAw2"}')
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert served("GET", "").status_code == 200  # reads are not writes: served meanwhile
    gate.set()
    for t in threads:
        t.join(10)
    assert answers == [201] * MAX_WRITERS  # the writers that got a slot finished
    assert served.counts[("put", "busy")] == 1


def test_a_database_failure_is_a_503(served: Served, fleet: Fleet) -> None:
    fleet.ctx.engine.dispose()
    served.api.sessions = None  # type: ignore[assignment]  # every use now fails
    answer = served("PUT", "/x", '{"app": "growth", "token": "THAAx123"}')
    assert answer.status_code == 503 and answer.json() == {"error": "unavailable: try again"}
    assert served.counts[("put", "error")] == 1


def test_the_body_limit_is_64_kib_exactly(served: Served) -> None:
    """SPEC 15's number as a literal: 65,536 bytes are read (and judged), one more is refused unread."""
    padding = '{"app": "growth", "token": "THAAbody123", "labels": {"pad": "%s"}}'
    at_limit = padding % ("x" * (65536 - len(padding % "")))
    assert len(at_limit.encode()) == 65536
    assert served("PUT", "/body", at_limit).status_code == 400  # read: the label is too long, a clear 400
    assert served("PUT", "/body", at_limit + " ").status_code == 413
    assert served.counts[("put", "too_large")] == 1


def test_a_new_string_is_queued_even_right_after_a_callback_check(served: Served, fleet: Fleet) -> None:
    """The 10 s spacing stops a repeated request, not a new string: a PUT that replaces the string of a
    token checked by a callback a moment ago still queues the new one (else it answers the old verdict)."""
    assert served("PUT", "/fresh", '{"app": "growth", "token": "THAAold123"}').status_code == 201
    with transaction(fleet.ctx.sessions) as s:
        s.execute(
            update(Token).where(Token.name == "fresh").values(recheck_at=None, callback_check_at=time.time())
        )
    assert served("PUT", "/fresh", '{"app": "growth", "token": "THAAnew123"}').status_code == 200
    assert fleet.rows()["fresh"].recheck_at is not None
