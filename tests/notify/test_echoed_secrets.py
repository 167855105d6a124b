"""A receiver that echoes what it was sent (headers and body) in its error answer: every configured secret,
in every form the product itself sends it (plain, URL-encoded, HTTP Basic, Bearer, SMTP AUTH), stays out of
the `notify test` output, the log and the database, whichever notifier's error carries it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from helpers_db import to_head
from receivers import HttpReceiver, HttpResponse
from sqlalchemy import select

from monitor.alerting.outbox import Outbox, build_notifiers
from monitor.cli import main
from monitor.config.load import load_config
from monitor.context import Context, all_secrets
from monitor.db.models import Notification
from monitor.db.session import transaction
from monitor.notify.relay import RELAY
from monitor.redact import Redactor, credential_forms, redact

USER, PASSWORD = "am-user", "AMpassw0rd-THAA-echoed-1"
HOOK_SECRET = "hook-hmac-THAA-echoed-secret-2"
SLACK_PATH = "/services/T0ECHO/B0ECHO/THAAslackPathEchoed3"
API_TOKEN = "q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4Fg6Hj0SaTHAA"


class EchoReceiver(HttpReceiver):
    """Answers 400 with what it received, the credentials first (an error text is cut at 200 characters):
    the Authorization header, the path, the other headers, the body."""

    def next_response(self) -> HttpResponse:
        request = self.requests.items[-1]
        first = request.headers.get("Authorization", "")
        headers = " ".join(f"{k}: {v}" for k, v in request.headers.items() if k != "Authorization")
        echoed = f"{first} {request.path} {headers} ".encode() + request.body
        return 400, {"Content-Type": "text/plain"}, echoed


@pytest.fixture
def echo() -> Iterator[EchoReceiver]:
    with EchoReceiver() as r:
        yield r


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(secret.encode()).decode()]


def every_form() -> list[str]:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [
        *forms(PASSWORD), *forms(HOOK_SECRET), *forms(SLACK_PATH.rsplit("/", 1)[1]), *forms(API_TOKEN),
        basic, f"Basic {basic}", f"Bearer {API_TOKEN}",
    ]  # fmt: skip


def leaks(text: str) -> list[str]:
    return [form for form in every_form() if form in text]


def write_config(tmp_path: Path, echo: EchoReceiver, sqlite_url: str) -> Path:
    text = f"""
[database]
url = "{sqlite_url}"
[security]
key_file = "{tmp_path / "secret.key"}"
[callbacks]
listen = "127.0.0.1:0"
api_token = "{API_TOKEN}"
forward_url = "{echo.url("/relay/{app}")}"
[[notifiers]]
name = "am"
type = "alertmanager"
url = "{echo.url("/am")}"
username = "{USER}"
password = "{PASSWORD}"
[[notifiers]]
name = "hook"
type = "webhook"
url = "{echo.url("/hook")}"
secret = "{HOOK_SECRET}"
[[notifiers]]
name = "slack"
type = "slack"
webhook_url = "{echo.url(SLACK_PATH)}"
"""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_forms_the_product_sends_are_redacted() -> None:
    secrets = credential_forms(USER, PASSWORD)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()  # SMTP AUTH PLAIN
    login = base64.b64encode(PASSWORD.encode()).decode()  # SMTP AUTH LOGIN
    for shown in (basic, plain, login, quote(PASSWORD), quote_plus(PASSWORD), f"Bearer {PASSWORD}"):
        assert redact(f"server said: Authorization: Basic {shown}!", secrets).count(PASSWORD[:12]) == 0
        assert shown not in redact(f"server said: {shown}", secrets)
    redactor = Redactor(secrets)
    assert redactor(f"x {basic} y") == "x [redacted] y" and redactor("nothing here") == "nothing here"


def test_notify_test_shows_no_secret_a_receiver_echoed(
    tmp_path: Path, echo: EchoReceiver, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, echo, sqlite_url)
    assert main(["--config", str(path), "init"]) == 0
    code = main(["--config", str(path), "notify", "test"])
    out, err = capsys.readouterr()
    assert code == 1 and out.count("failed (permanent)") == 3
    echoed = "\n".join(r.body.decode() + str(r.headers) for r in echo.requests.items)
    assert f"Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}" in echoed  # it was sent
    assert leaks(out + err) == []


def test_the_outbox_logs_and_stores_no_secret_a_receiver_echoed(
    tmp_path: Path, echo: EchoReceiver, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each notifier's error carries its own secrets and, the same receiver serving them all, nothing of the
    others' either: the log line and the stored last_error are clean."""
    caplog.set_level(logging.DEBUG)
    config = load_config(write_config(tmp_path, echo, sqlite_url))
    ctx = Context(config)
    to_head(ctx.engine)
    from monitor.callbacks.store import queue_relay
    from monitor.commands.notify_cmds import test_message

    now = 1_900_000_000.0
    with transaction(ctx.sessions) as s:
        for n in config.notifiers:
            message = test_message(n.name, now)
            row = {"delivery_id": message.delivery_id, "notifier": n.name, "payload": message.to_json()}
            s.add(Notification(**row, status="pending", created_at=now, next_attempt_at=now, attempts=0))
        queue_relay(s, "growth", f"signed_request=x&also={API_TOKEN}".encode(), "text/plain", now)
    from monitor.notify.relay import relay_notifiers

    notifiers = build_notifiers(config.notifiers) | relay_notifiers(config.callbacks.forward_url)  # type: ignore[union-attr]
    outbox = Outbox(
        ctx.sessions, notifiers, owner="t", ttl=86400, clock=lambda: now, secrets=all_secrets(config)
    )
    try:
        outbox.deliver_due(wait=True)
    finally:
        outbox.close()
    with ctx.sessions() as s:
        stored = s.execute(select(Notification.notifier, Notification.last_error)).all()
    ctx.close()
    assert {n for n, e in stored if e} == {"am", "hook", "slack", f"{RELAY}/growth"}
    assert leaks("\n".join(e or "" for _, e in stored)) == []
    assert leaks(caplog.text) == []


def test_the_daemons_log_and_database_hold_no_secret_a_receiver_echoed(
    tmp_path: Path, echo: EchoReceiver, sqlite_url: str
) -> None:
    """The real daemon: a revoked token fires TokenInvalid; the three notifiers' receiver echoes each
    request in its refusal; neither the daemon's output nor any stored column shows a secret."""
    from callbacks.helpers_callbacks import dump
    from helpers_daemon import DaemonProcess, make_fleet
    from support import wait_until

    from monitor.simulator import Simulator

    with Simulator() as sim:
        fleet = make_fleet(tmp_path, sqlite_url, sim, alerts={"group_wait": "1s"})
        (tmp_path / "echo").mkdir()
        text = write_config(tmp_path / "echo", echo, sqlite_url).read_text(encoding="utf-8")
        text = text.split("[[notifiers]]", 1)[1]
        fleet.config_path.write_text(
            fleet.config_path.read_text(encoding="utf-8") + "\n[[notifiers]]" + text, encoding="utf-8"
        )
        fleet.add_app("growth")
        fleet.add_tokens("growth", 1, state="revoked")
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log") as daemon:
            wait_until(lambda: len({r.path for r in echo.requests.items}) >= 3, 60, "a delivery to each")
            wait_until(lambda: "failed permanently" in daemon.output(), 30, "the failures in the log")
        output = daemon.output()
        stored = dump(sqlite_url)
        fleet.close()
    assert "failed permanently" in output
    assert leaks(output) == [] and leaks(stored) == []
