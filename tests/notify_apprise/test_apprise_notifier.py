"""`type = "apprise"`: config keys, real Apprise URLs to receivers on 127.0.0.1, retries through the outbox,
severity -> Apprise type, deadlines, and no URL or secret in any log line (Apprise's own included)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apprise
import pytest
from helpers_db import to_head
from receivers import HttpReceiver, SmtpReceiver
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from support import free_port

from monitor.alerting.outbox import Outbox, build_notifiers
from monitor.alerting.routing import enqueue_pending
from monitor.config.load import ConfigError, NotifierConfig, load_config, parse_config
from monitor.db.models import AlertEventRow, Notification
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.notify import AlertEvent, AppriseNotifier, Message, NotifyError, build_notifier
from monitor.notify.apprise import notify_type

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

NOW = 1796119200.0  # 2026-12-01T10:00:00Z
HOOK_PATH = "/hooks/SECRET-json-path-4b7e"
TOPIC = "SECRET-ntfy-topic-19ac"
MAIL_USER, MAIL_PASSWORD = "monitor", "SECRET-mail-pass-c0de"


def event(severity: str = "critical", status: str = "firing", token: str = "acme-main") -> AlertEvent:
    labels = {"alertname": "TokenExpiring", "token": token, "app": "growth", "severity": severity}
    return AlertEvent(
        "TokenExpiring",
        status,
        severity,
        labels,
        {},
        NOW - 3600,
        None,
        f"{token:>16}",
        NOW + 86400 + 4 * 3600,
    )


def message(*alerts: AlertEvent) -> Message:
    return Message("6f1c2b1e-6a43-4f43-9b57-1d2f3c4b5a69", "ap", "{}:{}", alerts or (event(),), NOW)


def notifier(*urls: str, timeout: float = 5.0) -> AppriseNotifier:
    cfg = NotifierConfig("ap", "apprise", timeout=timeout, settings={"urls": tuple(urls)})
    built = build_notifier(cfg)
    assert isinstance(built, AppriseNotifier)
    built.clock = lambda: NOW
    return built


def json_url(receiver: HttpReceiver) -> str:
    return f"json://127.0.0.1:{receiver.port}{HOOK_PATH}"


def mail_url(receiver: SmtpReceiver) -> str:
    args = "mode=insecure&from=threads-monitor@example.com&to=ops@example.com"
    return f"mailto://{MAIL_USER}:{MAIL_PASSWORD}@127.0.0.1:{receiver.port}?{args}"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    with SmtpReceiver(tmp_path, auth=(MAIL_USER, MAIL_PASSWORD)) as receiver:
        yield receiver


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env=env or {})
    return info.value.problems


# --- configuration ----------------------------------------------------------------------------------


def test_urls_file_and_env_give_one_url_a_line_and_build_through_load_config(tmp_path: Path) -> None:
    urls = tmp_path / "apprise-urls"
    urls.write_text("# ops channels\n\njson://127.0.0.1:9/a-path\n  ntfy://127.0.0.1:9/topic  \n")
    config = tmp_path / "config.toml"
    config.write_text(
        '[[notifiers]]\nname = "file"\ntype = "apprise"\nurls_file = "apprise-urls"\ntimeout = "3s"\n'
        '[[notifiers]]\nname = "env"\ntype = "apprise"\nurls_env = "APPRISE_URLS"\n'
        'min_severity = "critical"\n'
        '[[notifiers]]\nname = "plain"\ntype = "apprise"\nurls = """\njson://127.0.0.1:9/one\n"""\n'
    )
    loaded = load_config(config, env={"APPRISE_URLS": "json://127.0.0.1:9/x\njson://127.0.0.1:9/y"})
    file_cfg, env_cfg, plain_cfg = loaded.notifiers
    assert file_cfg.settings["urls"] == ("json://127.0.0.1:9/a-path", "ntfy://127.0.0.1:9/topic")
    assert file_cfg.timeout == 3.0 and env_cfg.min_severity == "critical"
    assert len(env_cfg.settings["urls"]) == 2 and plain_cfg.settings["urls"] == ("json://127.0.0.1:9/one",)
    built = build_notifier(file_cfg)
    assert isinstance(built, AppriseNotifier) and len(built.services) == 2


def test_bad_urls_are_config_problems_naming_position_and_scheme_never_the_url() -> None:
    secret_url = "discord://SECRET-not-a-webhook"
    text = f"json://127.0.0.1:9/ok\n{secret_url}\nfoo://SECRET-host/SECRET-path\nSECRET-no-scheme"
    found = problems({"notifiers": [{"name": "a", "type": "apprise", "urls": text}]})
    assert found == [
        "notifiers[0].urls: not a URL Apprise can use: urls[1] (discord), urls[2] (foo), urls[3] (?) "
        "(see https://appriseit.com/services/)"
    ]
    assert "SECRET" not in found[0]


def test_urls_are_required_and_not_empty() -> None:
    missing = problems({"notifiers": [{"name": "a", "type": "apprise"}]})
    assert missing == ["notifiers[0].urls: missing (give one of urls, urls_file, urls_env)"]
    empty = problems({"notifiers": [{"name": "a", "type": "apprise", "urls_env": "U"}]}, {"U": "# none\n"})
    assert empty == ["notifiers[0].urls_env: expected at least one Apprise URL"]


# --- delivery through real Apprise URLs ---------------------------------------------------------------


def test_json_ntfy_and_mailto_all_receive_title_when_and_time_left(
    http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    ntfy_url = f"ntfy://127.0.0.1:{http.port}/{TOPIC}"
    notifier(json_url(http), ntfy_url, mail_url(smtp)).send(message())
    by_path = {r.path: r for r in http.wait_for(2)}
    posted = json.loads(by_path[HOOK_PATH].body)
    assert posted["type"] == apprise.NotifyType.FAILURE.value
    assert posted["title"] == "[FIRING:1] TokenExpiring (token acme-main app growth)"
    body = posted["message"]
    assert "Token acme-main (app growth) expires in 1 day 4 hours" in body
    assert "2026-12-02T14:00:00Z" in body and "Severity critical, since 2026-12-01T09:00:00Z" in body
    assert max(len(line) for line in body.splitlines()) <= 60, "short lines for a phone"
    ntfy = json.loads(by_path["/"].body)
    assert (ntfy["topic"], ntfy["title"], ntfy["message"]) == (TOPIC, posted["title"], body)
    mail = smtp.wait_for(1)[0].message
    assert mail["Subject"] == posted["title"] and mail["To"] == "ops@example.com"
    plain = mail.get_body(("plain",))
    assert plain is not None and "expires in 1 day 4 hours" in plain.get_content()


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ((event("critical"),), apprise.NotifyType.FAILURE),
        ((event("warning"),), apprise.NotifyType.WARNING),
        ((event("critical", "resolved"),), apprise.NotifyType.SUCCESS),
        ((event("warning"), event("critical", token="acme-b")), apprise.NotifyType.FAILURE),
        ((event("warning"), event("critical", "resolved", token="acme-b")), apprise.NotifyType.WARNING),
    ],
)
def test_severity_maps_to_the_apprise_type(
    http: HttpReceiver, alerts: tuple[AlertEvent, ...], expected: apprise.NotifyType
) -> None:
    assert notify_type(message(*alerts)) == expected.value
    notifier(json_url(http)).send(message(*alerts))
    assert json.loads(http.wait_for(1)[0].body)["type"] == expected.value


def test_failure_is_transient_names_no_url_and_the_retry_delivers(http: HttpReceiver) -> None:
    http.respond(500, {}, "boom")
    ap = notifier(json_url(http))
    with pytest.raises(NotifyError) as info:
        ap.send(message())
    assert not info.value.permanent
    assert info.value.message == "Apprise: 1 of 1 services failed: JSON (failure)"
    ap.send(message())
    assert [r.path for r in http.wait_for(2)] == [HOOK_PATH, HOOK_PATH]


def test_an_exception_inside_apprise_is_transient_and_shows_nothing_of_it(
    http: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ap = notifier(json_url(http))

    def explode(**kwargs: Any) -> None:  # patched: no real plugin raises on demand
        raise RuntimeError(f"cannot reach {json_url(http)}")

    monkeypatch.setattr(ap.services, "notify", explode)
    with pytest.raises(NotifyError) as info:
        ap.send(message())
    assert not info.value.permanent and info.value.message == "Apprise raised RuntimeError"


def test_a_receiver_that_never_answers_fails_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        ap = notifier(f"json://127.0.0.1:{silent.getsockname()[1]}/hook", timeout=0.5)
        # The configured deadline, not Apprise's default (4 s connect, 4 s read), bounds each service ...
        assert [(s.socket_connect_timeout, s.socket_read_timeout) for s in ap.services] == [(0.5, 0.5)]
        # ... and it is what ends the send: the peer never answers and never hangs up.
        with pytest.raises(NotifyError):
            ap.send(message())


def test_apprise_pacing_between_sends_stays_inside_the_deadline(http: HttpReceiver) -> None:
    ap = notifier(f"ntfy://127.0.0.1:{http.port}/{TOPIC}", timeout=0.4)  # ntfy pauses 5.5 s by default
    ap.send(message())
    ap.send(message())
    assert len(http.wait_for(2)) == 2


# --- through the durable outbox ---------------------------------------------------------------------


@pytest.fixture
def sessions(sqlite_url: str) -> sessionmaker[Session]:
    engine = make_engine(sqlite_url)
    to_head(engine)
    return make_sessionmaker(engine)


def test_outbox_retries_after_a_500_and_delivers_exactly_once(
    sessions: sessionmaker[Session], http: HttpReceiver
) -> None:
    now = [NOW]
    cfg = NotifierConfig("ap", "apprise", timeout=5.0, settings={"urls": (json_url(http),)})
    with transaction(sessions) as s:
        s.execute(insert(AlertEventRow), [{"created_at": NOW, "payload": json.dumps(event().to_dict())}])
        assert enqueue_pending(s, [cfg], NOW, group_wait=0.0) == 1
    outcomes: list[tuple[str, str]] = []
    box = Outbox(
        sessions, build_notifiers([cfg]), owner="o1", ttl=86400.0, clock=lambda: now[0], rand=lambda: 0.5,
        on_outcome=lambda name, outcome: outcomes.append((name, outcome)),
    )  # fmt: skip
    http.respond(500, {}, "boom")
    first = box.deliver_due()
    with sessions() as s:
        row = s.scalars(select(Notification)).one()
        # The outbox's first wait is 10 s, shortened by jitter x rand (retry.backoff): 10 x (1 - 0.2 x 0.5).
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + 9)
        assert "JSON (failure)" in (row.last_error or "") and HOOK_PATH not in (row.last_error or "")
    now[0] = NOW + 9
    second = box.deliver_due()
    box.close()
    with sessions() as s:
        assert list(s.scalars(select(Notification.status))) == ["sent"]
    assert dict(first.outcomes) == {"retry": 1} and dict(second.outcomes) == {"sent": 1}
    assert ("ap", "sent") in outcomes and len(http.wait_for(2)) == 2
    assert json.loads(http.requests.items[1].body)["title"].startswith("[FIRING:1] TokenExpiring")


# --- nothing of a URL in any log line ---------------------------------------------------------------


def test_no_url_or_secret_in_any_log_at_debug(
    http: HttpReceiver,
    smtp: SmtpReceiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    good = [json_url(http), f"ntfy://127.0.0.1:{http.port}/{TOPIC}", mail_url(smtp)]
    dead = f"json://user:SECRET-dead-pass@127.0.0.1:{free_port()}/SECRET-dead-path"
    problems({"notifiers": [{"name": "bad", "type": "apprise", "urls": "discord://SECRET-bad-id\n" + dead}]})
    ap = notifier(*good)
    for name in ("apprise", "urllib3", "monitor"):
        caplog.set_level(logging.DEBUG, logger=name)  # as if a log configuration asked for everything later
    ap.send(message())
    http.respond(500, {}, "boom")
    with pytest.raises(NotifyError):
        notifier(*good).send(message())  # a fresh one: Apprise paces a service's consecutive sends
    with pytest.raises(NotifyError) as info:
        notifier(dead, timeout=1.0).send(message())
    assert len(http.wait_for(4)) == 4 and len(smtp.wait_for(2)) == 2
    seen = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records) + str(capsys.readouterr())
    seen += info.value.message
    for secret in [*good, dead, HOOK_PATH.strip("/"), "SECRET", MAIL_PASSWORD, TOPIC]:
        assert secret not in seen, secret
    assert caplog.records, "DEBUG logging was on: something (urllib3, smtp receiver) should have logged"
