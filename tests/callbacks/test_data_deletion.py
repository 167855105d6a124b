"""Meta's data deletion request callback, end to end on every backend: the simulator (as Meta) sends it to
the real [callbacks] listener, and afterwards no row of any table names the user; the answer's URL shows
the status page; a replay answers the same code and does nothing else; a forged, stale or misdirected one
deletes nothing."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from helpers_daemon import Fleet, close_sweeper, make_fleet, new_secret
from sqlalchemy import Table, func, insert, select

from monitor.callbacks import sign_request
from monitor.callbacks.store import queue_relay, store_deauthorization
from monitor.config.model import CallbacksConfig
from monitor.daemon.callbacks import CallbacksComponent, CallbacksSettings
from monitor.db.models import Alert, AlertEventRow, Base, Deletion, Notification
from monitor.db.session import transaction
from monitor.notify.relay import relay_channel
from monitor.registry import record, set_app_secret
from monitor.simulator import Simulator

ALICE, BOB = "17841400000111", "17841400000222"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GUARD = 10


@dataclass
class World:
    fleet: Fleet
    sim: Simulator
    component: CallbacksComponent
    secret: str
    clock: list[float]
    counted: list[tuple[str, str]] = field(default_factory=list)

    def url(self, platform: str = "threads", app: str = "growth") -> str:
        return f"{self.component.url}/callbacks/{platform}/{urllib.parse.quote(app, safe='')}/data-deletion"

    def post(self, body: bytes, url: str | None = None) -> requests.Response:
        return requests.post(url or self.url(), data=body, headers=FORM, timeout=GUARD)

    def body(self, user: str, *, secret: str | None = None, issued_at: int | None = None) -> bytes:
        at = int(self.clock[0]) if issued_at is None else issued_at
        signed = sign_request(user, at, secret or self.secret)
        return urllib.parse.urlencode({"signed_request": signed}).encode()

    def token_of(self, prefix: str) -> str:
        return next(v for k, v in self.fleet.tokens.items() if k.startswith(prefix))


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    clock = [float(int(time.time()))]  # the simulator's: two sends at one instant are one request, replayed
    with Simulator(clock=lambda: clock[0]) as sim:
        fleet = make_fleet(tmp_path, db_url, sim)
        secret = new_secret("appsecret")
        inspector = fleet.add_app("growth")
        with transaction(fleet.ctx.sessions) as s:
            set_app_secret(s, fleet.ctx.vault, "growth", secret)
        fleet.add_tokens("growth", 2, prefix="alice", user_id=ALICE)
        fleet.add_tokens("growth", 1, prefix="bob", user_id=BOB)
        sweeper = fleet.sweeper()
        sweeper.check_now([t.id for t in fleet.rows().values()])  # user ids known, snapshots written
        counted: list[tuple[str, str]] = []
        config = CallbacksConfig(listen="127.0.0.1:0", public_url="https://monitor.example.com/meta")
        component = CallbacksComponent(
            CallbacksSettings(config), sessions=fleet.ctx.sessions, vault=fleet.ctx.vault, sweeper=sweeper,
            count=lambda kind, outcome: counted.append((kind, outcome)), clock=time.time,
        )  # fmt: skip
        world = World(fleet, sim, component, secret, clock, counted)
        # As in Meta's dashboard: the app's own Data Deletion Request URL (the simulator knows Meta app ids).
        sim.add_app("growth", inspector, application="App growth", app_secret=secret,
                    data_deletion_url=world.url())  # fmt: skip
        try:
            seed(world)
            yield world
        finally:
            component.close()
            close_sweeper(sweeper)
            fleet.close()


def seed(world: World) -> None:
    """Rows naming each user beside the tokens and snapshots: change history, a deauthorize callback and
    its relay, alerts (firing, resolved, one whose label names the user), an alert event, a notification."""
    now = time.time()
    rows = world.fleet.rows()
    with transaction(world.fleet.ctx.sessions) as s:
        for user, prefix in ((ALICE, "alice"), (BOB, "bob")):
            mine = [t for n, t in rows.items() if n.startswith(prefix)]
            record(s, mine[0].id, "labels", "cli", now, detail=f"set owner={user}")
            store_deauthorization(s, "growth", user, int(now) - 60, now)
            body = urllib.parse.urlencode({"signed_request": sign_request(user, int(now) - 60, "x")}).encode()
            queue_relay(s, "growth", body, FORM["Content-Type"], now)
            for i, (token, status) in enumerate(
                [(mine[0], "firing"), (mine[-1], "resolved"), (None, "firing")]
            ):
                labels = {"alertname": "TokenInvalid", "token": token.name if token else f"u{user}"}
                s.execute(insert(Alert).values(
                    key=f"TokenInvalid/{prefix}/{i}", alertname="TokenInvalid", subject=labels["token"],
                    token_id=token.id if token else None, status=status, severity="critical", labels=labels,
                    annotations={}, fingerprint=f"{prefix}{i}", started_at=now, updated_at=now,
                    notified_severity="critical" if status == "firing" else None,
                ))  # fmt: skip
            s.add(AlertEventRow(created_at=now, payload=json.dumps({"labels": {"user": user}})))
            s.add(Notification(delivery_id=new_secret("d")[:36], notifier="hook", status="sent",
                               payload=json.dumps({"text": f"user {user} lost a token"}), created_at=now,
                               next_attempt_at=now, attempts=1))  # fmt: skip


def naming(world: World, user: str) -> list[str]:
    """Every cell of every table (the schema's, all columns) whose text holds `user` as a whole number,
    and every relayed callback body (stored encoded) that names it."""
    whole = re.compile(rf"(?<![0-9]){user}(?![0-9])")
    found = []
    with world.fleet.ctx.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                found += [
                    f"{table.name}.{k}" for k, v in row.items() if v is not None and whole.search(str(v))
                ]
        for payload in s.scalars(
            select(Notification.payload).where(Notification.notifier.like("callbacks-%"))
        ):
            body = json.loads(payload)["alerts"][0]["labels"]["body"]
            if user in str(relayed_payloads(body)):
                found.append("notifications.payload (relayed body)")
    return found


def relayed_payloads(encoded: str) -> list[object]:
    import base64

    form = dict(urllib.parse.parse_qsl(base64.b64decode(encoded).decode()))
    part = form["signed_request"].split(".")[1]
    return [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))]


def counts(world: World) -> dict[str, int]:
    with world.fleet.ctx.sessions() as s:
        tables: list[Table] = list(Base.metadata.sorted_tables)
        return {t.name: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in tables}


def test_a_data_deletion_leaves_no_row_naming_the_user_and_says_so(world: World) -> None:
    assert set(naming(world, ALICE)) == {  # the seed names the user everywhere the monitor could
        "tokens.user_id", "snapshots.user_id", "token_events.detail", "callbacks.user_id", "alerts.subject",
        "alerts.labels", "alert_events.payload", "notifications.payload",
        "notifications.payload (relayed body)",
    }  # fmt: skip
    bob_before = naming(world, BOB)
    sent = world.sim.request_data_deletion(world.token_of("alice"))
    assert (sent["status"], sent["subject"], sent["id"]) == (200, "user_id", ALICE)
    code = sent["answer"]["confirmation_code"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", code)
    assert sent["answer"] == {
        "url": f"https://monitor.example.com/meta/deletion/{code}",
        "confirmation_code": code,
    }
    assert naming(world, ALICE) == []
    assert naming(world, BOB) == bob_before  # another user's rows are untouched
    assert {n for n in world.fleet.rows()} == {"bob-00000"}
    with world.fleet.ctx.sessions() as s:
        (deletion,) = s.scalars(select(Deletion))
        # Firing alerts the notifiers heard end as "deleted on request" (never "valid again")...
        ended = s.scalars(select(Alert.resolved_reason).where(Alert.key == "TokenInvalid/alice/0")).all()
        relays = s.scalar(select(func.count()).where(Notification.notifier == relay_channel("growth")))
    assert ended == ["deleted on request"] and relays == 1  # ... and bob's relay stays
    assert deletion.counts == {"tokens": 2, "snapshots": 2, "events": 1, "callbacks": 1, "alerts": 2,
                               "alerts_ended": 1, "alert_events": 1, "notifications": 2}  # fmt: skip
    assert world.counted == [("data_deletion", "accepted")]

    page = requests.get(f"{world.component.url}/deletion/{code}", timeout=GUARD)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert code in page.text and "Your data deletion request is done" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert ALICE not in page.text and "growth" not in page.text


def test_a_replay_answers_the_same_code_and_does_nothing_else(world: World) -> None:
    first = world.sim.request_data_deletion(world.token_of("alice"))
    before = counts(world)
    again = world.sim.request_data_deletion(world.token_of("alice"))  # the same instant: the same request
    assert again["status"] == 200 and again["answer"] == first["answer"]
    assert counts(world) == before
    world.clock[0] += 1  # a new request about the same user: a new code, nothing left to delete
    later = world.sim.request_data_deletion(world.token_of("alice"))
    assert later["answer"]["confirmation_code"] != first["answer"]["confirmation_code"]
    with world.fleet.ctx.sessions() as s:
        assert sorted(d.counts["tokens"] for d in s.scalars(select(Deletion))) == [0, 2]
    assert world.counted == [("data_deletion", o) for o in ("accepted", "replayed", "accepted")]


def test_forged_stale_or_misdirected_requests_delete_nothing(world: World) -> None:
    before = counts(world)
    now = int(time.time())
    refused = [
        world.post(world.body(ALICE, secret="not-the-app-secret")),  # forged
        world.post(world.body(ALICE, issued_at=now - 25 * 3600)),  # older than 24 h
        world.post(world.body(ALICE, issued_at=now + 3600)),  # from the future
        world.post(world.body(ALICE), url=world.url(platform="facebook")),  # a Threads app's on another path
        world.post(world.body(ALICE), url=world.url(platform="myspace")),
        world.post(world.body(ALICE), url=world.url(app="nobody")),
        world.post(b"signed_request=" + b"A" * 9000),  # over 8 KiB
        world.post(b'{"user_id": "17841400000111"}'),
    ]
    assert [(r.status_code, r.text) for r in refused] == [(400, "refused\n")] * len(refused)
    assert counts(world) == before and ALICE not in json.dumps(world.counted)
    assert world.counted == [("data_deletion", o) for o in (
        "bad_signature", "stale", "stale", "unknown_app", "unknown_app", "unknown_app", "bad_request",
        "bad_request")]  # fmt: skip


def test_the_status_page_is_a_fixed_404_for_any_other_code(world: World) -> None:
    base = world.component.url
    probes = ["A" * 32, "x", "<script>alert(1)</script>", "%3Cb%3E" * 3, "A" * 5000]
    answers = [requests.get(f"{base}/deletion/{p}", timeout=GUARD) for p in probes]
    assert {(a.status_code, a.text) for a in answers} == {(404, "not found\n")}
    assert all("script" not in a.text and "<b>" not in a.text for a in answers)
    assert requests.get(f"{base}/deletion/", timeout=GUARD).status_code == 404


def test_a_page_callback_names_the_page_by_profile_id(world: World) -> None:
    """A Page that removed the app is named by profile_id: verified and answered like any other."""
    signed = sign_request("1040000000001", int(time.time()), world.secret, subject="profile_id")
    answer = world.post(urllib.parse.urlencode({"signed_request": signed}).encode())
    assert answer.status_code == 200 and set(answer.json()) == {"url", "confirmation_code"}
    assert len(world.fleet.rows()) == 3 and world.counted == [("data_deletion", "accepted")]


def test_copies_of_one_request_racing_each_other_get_one_code(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = world.body(ALICE)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: world.post(body), range(4)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["confirmation_code"] for a in answers}) == 1
    with world.fleet.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Deletion)) == 1
    assert sorted(world.counted) == [("data_deletion", "accepted")] + [("data_deletion", "replayed")] * 3


def test_a_deauthorize_after_the_deletion_does_not_name_the_user_again(world: World) -> None:
    """Meta sends both when a user removes the app and asks for deletion: the deauthorize that follows the
    deletion is answered 200 and stored nowhere, until the app holds a token of that user again."""
    world.sim.request_data_deletion(world.token_of("alice"))
    deauthorize = world.url().replace("/data-deletion", "/deauthorize")
    world.clock[0] += 1
    answer = world.post(world.body(ALICE), url=deauthorize)
    assert answer.status_code == 200
    assert naming(world, ALICE) == []
    assert world.counted[-1] == ("deauthorize", "replayed")
    # The user connects again: their new token is theirs, and a revocation of it is news again.
    world.fleet.add_tokens("growth", 1, prefix="alice-again", user_id=ALICE)
    world.fleet.sweeper().check_now([r.id for n, r in world.fleet.rows().items() if n.startswith("alice")])
    world.clock[0] += 1
    assert world.post(world.body(ALICE), url=deauthorize).status_code == 200
    assert world.counted[-1] == ("deauthorize", "accepted")
    assert "callbacks.user_id" in naming(world, ALICE)
