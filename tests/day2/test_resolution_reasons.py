"""Resolution reasons against the real daemon and real receivers: a replaced string keeps the token's history
and ends its TokenInvalid with reason "replaced"; removing a dead token ends it with reason "removed" in every
channel (webhook, email, Apprise, console), never with "valid again"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers_daemon import new_secret
from helpers_day2 import APP, Day2World
from receivers import HttpReceiver, SmtpReceiver
from support import wait_until

from monitor.crypto import fingerprint
from monitor.simulator import Simulator

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


@pytest.fixture
def apprise() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    with SmtpReceiver(tmp_path) as r:
        yield r


def test_a_replaced_string_keeps_the_history_and_ends_token_invalid_as_replaced(
    tmp_path: Path, db_url: str, sim: Simulator, hook: HttpReceiver
) -> None:
    world = Day2World.make(tmp_path, db_url, sim, hook)
    (name,) = world.fleet.add_tokens(APP, 1, state="revoked")
    old = world.fleet.tokens[name]
    new = new_secret("tok")
    sim.add_token(new, app_id=APP)
    with world.daemon():
        fired = world.wait_alert("TokenInvalid", name, "firing")
        assert "resolved_reason" not in fired
        done = world.cli("tokens", "set-token", name, "--token-env", "NEW_TOKEN", env={"NEW_TOKEN": new})
        assert done.returncode == 0, done.stderr
        assert f"fingerprint {fingerprint(old)} -> {fingerprint(new)}" in done.stdout
        assert "checked: ok" in done.stdout
        ended = world.wait_alert("TokenInvalid", name, "resolved")
        page = requests.get(f"http://{world.fleet.config.http.listen}/tokens/{name}", timeout=10).text
    assert f"string replaced: {fingerprint(old)} -&gt; {fingerprint(new)} (via cli)" in page
    assert ended["resolved_reason"] == "replaced"
    assert ended["annotations"]["resolved_reason"] == "replaced"
    assert "valid again" not in ended["annotations"]["summary"]
    history = json.loads(world.cli("tokens", "history", name, "--json").stdout)
    changes = [r for r in history if r["kind"] == "change"]
    assert [(c["result"], c["previous_fingerprint"], c["fingerprint"]) for c in changes] == [
        ("replaced", fingerprint(old), fingerprint(new))
    ]
    checks = [r for r in history if r["kind"] == "check"]
    assert [c["result"] for c in checks] == ["valid", "invalid"]  # the old string's history is kept
    assert checks[-1]["fingerprint"] == fingerprint(old)
    table = world.cli("tokens", "history", name).stdout
    assert f"{fingerprint(old)} -> {fingerprint(new)}" in table
    assert world.leaks() == []


def test_removing_a_dead_token_ends_its_alert_as_removed_and_never_valid_again(
    tmp_path: Path, db_url: str, sim: Simulator, hook: HttpReceiver, smtp: SmtpReceiver, apprise: HttpReceiver
) -> None:
    world = Day2World.make(tmp_path, db_url, sim, hook, smtp, apprise)
    (name,) = world.fleet.add_tokens(APP, 1, state="revoked", prefix="garbage")
    with world.daemon() as daemon:
        world.wait_alert("TokenInvalid", name, "firing")
        smtp.wait_for(1, timeout=30)
        apprise.wait_for(1, timeout=30)
        assert world.cli("tokens", "remove", name).returncode == 0
        ended = world.wait_alert("TokenInvalid", name, "resolved")
        smtp.wait_for(2, timeout=30)
        apprise.wait_for(2, timeout=30)
        wait_until(lambda: "RESOLVED" in daemon.output(), 30, "the console line of the resolution")
    assert ended["resolved_reason"] == "removed" and ended["annotations"]["resolved_reason"] == "removed"
    said = world.texts()
    assert "valid again" not in said
    mail = smtp.messages.items[1].message
    assert "[RESOLVED] TokenInvalid" in mail["Subject"]
    body = mail.get_body(("plain",))
    assert body is not None and "removed from the monitor" in body.get_content()
    assert "Reason: removed" in body.get_content()
    posted = json.loads(apprise.requests.items[1].body)
    assert "removed from the monitor" in posted["message"]
    console = [line for line in daemon.output().splitlines() if " RESOLVED " in line]
    assert console and all(f"token={name}" in line and "removed from the monitor" in line for line in console)
    assert world.leaks() == []
