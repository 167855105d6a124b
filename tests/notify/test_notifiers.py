"""One contract suite for every notifier, each against a real receiver on 127.0.0.1, plus per-type details."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from receivers import HttpReceiver, SmtpDelivery, SmtpReceiver
from support import free_port, tool, wait_until

from monitor.notify import (
    NOTIFIER_TYPES,
    AlertEvent,
    Message,
    Notifier,
    NotifyError,
    accepts,
    build_notifier,
    classify_http,
)
from monitor.notify.bodies import render_html, title
from monitor.notify.console import ConsoleNotifier
from monitor.notify.text import description
from monitor.retry import parse_retry_after

# Plain-SMTP receivers require AUTH without TLS on purpose (a local relay); aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

NOW = 1796119200.0  # 2026-12-01T10:00:00Z
SLACK_PATH = "/services/T000/B000/SECRET-slack-path-7f3a"
HOOK_PATH = "/hooks/SECRET-webhook-path-91c2"
HMAC_SECRET = "SECRET-hmac-key-55aa"
SMTP_USER, SMTP_PASSWORD = "monitor", "SECRET-smtp-pass-0b1d"
AM_PASSWORD = "SECRET-am-pass-e4e4"
SECRETS = [SLACK_PATH, HOOK_PATH, HMAC_SECRET, SMTP_PASSWORD, AM_PASSWORD]


@dataclass(frozen=True)
class Cfg:
    name: str
    type: str
    min_severity: str = "warning"
    match: Mapping[str, str] = field(default_factory=dict)
    send_resolved: bool = True
    timeout: float = 5.0
    settings: Mapping[str, Any] = field(default_factory=dict)


def event(token: str = "acme-main", left: float = 86400 + 4 * 3600, **kw: Any) -> AlertEvent:
    values: dict[str, Any] = dict(
        alertname="TokenExpiring",
        status="firing",
        severity="critical",
        labels={"alertname": "TokenExpiring", "token": token, "app": "growth", "severity": "critical"},
        annotations={},
        starts_at=NOW - 3600,
        ends_at=None,
        fingerprint=hashlib.sha256(token.encode()).hexdigest()[:16],
        at=NOW + left,
    )
    values.update(kw)
    return AlertEvent(**values)


def message(*alerts: AlertEvent, notifier: str = "n") -> Message:
    alerts = alerts or (event(), event("acme-backup", left=3 * 3600 + 5 * 60))
    return Message(
        delivery_id="6f1c2b1e-6a43-4f43-9b57-1d2f3c4b5a69",
        notifier=notifier,
        group_key='{}:{app="growth"}',
        alerts=tuple(alerts),
        created_at=NOW,
        external_url="http://monitor.example:9469/",
    )


# --- one harness per notifier type: how to build it, what its receiver got, how to make it fail ---


class Harness:
    kind: str

    def notifier(self, **settings: Any) -> Notifier:
        raise NotImplementedError

    def delivered(self, count: int) -> list[str]:
        raise NotImplementedError

    def fail(self, how: str) -> None:
        """how: "transient" | "permanent" | "rate_limited" (Retry-After: 7)."""
        pytest.skip(f"{self.kind} has no remote end to fail")

    def dead_settings(self) -> dict[str, Any]:
        pytest.skip(f"{self.kind} has no remote end")


class HttpHarness(Harness):
    path = "/"

    def __init__(self, kind: str, receiver: HttpReceiver) -> None:
        self.kind, self.receiver = kind, receiver

    def base_settings(self, url: str) -> dict[str, Any]:
        raise NotImplementedError

    def notifier(self, **settings: Any) -> Notifier:
        merged = {**self.base_settings(self.receiver.url(self.path)), **settings}
        cfg = Cfg(name=f"test-{self.kind}", type=self.kind, settings=merged)
        return NOTIFIER_TYPES[self.kind](cfg, clock=lambda: NOW)

    def delivered(self, count: int) -> list[str]:
        return [r.body.decode() for r in self.receiver.wait_for(count)]

    def fail(self, how: str) -> None:
        answers = {
            "transient": (500, {}, "internal error"),
            "permanent": (404, {}, "no_service"),
            "rate_limited": (429, {"Retry-After": "7"}, "rate limited"),
        }
        self.receiver.respond(*answers[how])

    def dead_settings(self) -> dict[str, Any]:
        return self.base_settings(f"http://127.0.0.1:{free_port()}{self.path}")


class SlackHarness(HttpHarness):
    path = SLACK_PATH

    def base_settings(self, url: str) -> dict[str, Any]:
        return {"webhook_url": url}


class WebhookHarness(HttpHarness):
    path = HOOK_PATH

    def base_settings(self, url: str) -> dict[str, Any]:
        return {"url": url, "secret": HMAC_SECRET}


class AlertmanagerHarness(HttpHarness):
    def base_settings(self, url: str) -> dict[str, Any]:
        return {"url": url.rstrip("/"), "username": "am", "password": AM_PASSWORD}


class EmailHarness(Harness):
    kind = "email"

    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    def base_settings(self, port: int) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "security": self.receiver.mode,
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "from": "threads-monitor@example.com",
            "to": ["ops@example.com", "oncall@example.com"],
            "ca_file": str(self.receiver.cert_file),
        }

    def notifier(self, **settings: Any) -> Notifier:
        cfg = Cfg(
            name="test-email", type="email", settings={**self.base_settings(self.receiver.port), **settings}
        )
        return NOTIFIER_TYPES["email"](cfg, clock=lambda: NOW)

    def delivered(self, count: int) -> list[str]:
        return [email_text(d) for d in self.receiver.wait_for(count)]

    def fail(self, how: str) -> None:
        if how == "rate_limited":
            pytest.skip("SMTP has no Retry-After")
        self.receiver.fail("451 4.3.0 try again later" if how == "transient" else "550 5.1.1 mailbox unknown")

    def dead_settings(self) -> dict[str, Any]:
        return self.base_settings(free_port())


class AppriseHarness(Harness):
    """A `json://` Apprise URL to the HTTP receiver: Apprise reports only success or failure."""

    kind = "apprise"

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver

    def notifier(self, **settings: Any) -> Notifier:
        url = f"json://127.0.0.1:{settings.pop('port', self.receiver.port)}{HOOK_PATH}"
        cfg = Cfg(name="test-apprise", type="apprise", settings={"urls": (url,), **settings})
        return NOTIFIER_TYPES["apprise"](cfg, clock=lambda: NOW)

    def delivered(self, count: int) -> list[str]:
        return [
            json.loads(r.body)["title"] + "\n" + json.loads(r.body)["message"]
            for r in self.receiver.wait_for(count)
        ]

    def fail(self, how: str) -> None:
        if how != "transient":
            pytest.skip(f"Apprise reports no {how} failure: every failure is retried")
        self.receiver.respond(500, {}, "internal error")

    def dead_settings(self) -> dict[str, Any]:
        return {"port": free_port()}


class ConsoleHarness(Harness):
    kind = "console"

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def notifier(self, **settings: Any) -> Notifier:
        return ConsoleNotifier(Cfg(name="console", type="console"), clock=lambda: NOW, stream=self.stream)

    def fail(self, how: str) -> None:
        if how != "transient":
            pytest.skip(f"console has no {how} failure")
        self.stream.close()

    def delivered(self, count: int) -> list[str]:
        text = self.stream.getvalue()
        assert text, "nothing written"
        return [text]


def email_text(delivery: SmtpDelivery) -> str:
    msg = delivery.message
    plain, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html_part is not None
    return "\n".join([str(msg["Subject"]), plain.get_content(), html_part.get_content()])


@pytest.fixture(params=sorted(NOTIFIER_TYPES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    kind = request.param
    if kind == "email":
        with SmtpReceiver(tmp_path, mode="starttls", auth=(SMTP_USER, SMTP_PASSWORD)) as smtp:
            yield EmailHarness(smtp)
    elif kind == "console":
        yield ConsoleHarness()
    elif kind == "apprise":
        with HttpReceiver() as http:
            yield AppriseHarness(http)
    else:
        classes: dict[str, Callable[[str, HttpReceiver], HttpHarness]] = {
            "slack": SlackHarness,
            "webhook": WebhookHarness,
            "alertmanager": AlertmanagerHarness,
        }
        with HttpReceiver() as http:
            yield classes[kind](kind, http)


# --- the contract ---


def test_delivers_both_alerts_with_names_times_and_time_left(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor")
    notifier = harness.notifier()
    notifier.send(message())
    notifier.close()
    (text,) = harness.delivered(1)
    for expected in (
        "acme-main",
        "acme-backup",
        "growth",
        "2026-12-02T14:00:00Z",
        "expires in 1 day 4 hours",
        "expires in 3 hours 5 minutes",
    ):
        assert expected in text, (harness.kind, expected)
    for secret in SECRETS:
        assert secret not in text
        assert secret not in caplog.text


@pytest.mark.parametrize(("how", "permanent"), [("transient", False), ("permanent", True)])
def test_failures_are_classified(harness: Harness, how: str, permanent: bool) -> None:
    harness.fail(how)
    with pytest.raises(NotifyError) as info:
        harness.notifier().send(message())
    assert info.value.permanent is permanent
    assert not any(secret in str(info.value) for secret in SECRETS)


def test_rate_limit_carries_retry_after(harness: Harness) -> None:
    harness.fail("rate_limited")
    with pytest.raises(NotifyError) as info:
        harness.notifier().send(message())
    assert info.value.permanent is False
    assert info.value.retry_after == 7


def test_unreachable_receiver_is_transient_and_names_no_url(harness: Harness) -> None:
    settings = harness.dead_settings()
    with pytest.raises(NotifyError) as info:
        harness.notifier(**settings).send(message())
    assert info.value.permanent is False
    text = f"{info.value} {info.value!r} {info.value.__cause__!r} {info.value.__context__!r}"
    assert not any(secret in text for secret in SECRETS)
    if isinstance(harness, HttpHarness):
        assert "[redacted]" in str(info.value)


def test_build_notifier_knows_every_type() -> None:
    assert set(NOTIFIER_TYPES) == {"slack", "webhook", "email", "alertmanager", "console", "apprise"}
    assert isinstance(build_notifier(Cfg(name="c", type="console")), ConsoleNotifier)
    with pytest.raises(ValueError, match="unknown type"):
        build_notifier(Cfg(name="x", type="pager"))


# --- per-type details ---


def test_webhook_payload_is_alertmanager_v4_signed_and_identified() -> None:
    with HttpReceiver() as http:
        harness = WebhookHarness("webhook", http)
        msg = message()
        harness.notifier().send(msg)
        (request,) = http.wait_for(1)
    assert request.method == "POST" and request.path == HOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("threads-token-monitor/")
    assert request.headers["X-Threads-Monitor-Delivery"] == msg.delivery_id
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Threads-Monitor-Signature"], expected)
    doc = json.loads(request.body)
    assert set(doc) >= {
        "version",
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
        "truncatedAlerts",
    }
    assert (doc["version"], doc["status"], doc["receiver"]) == ("4", "firing", "test-webhook")
    assert doc["groupLabels"] == {"alertname": "TokenExpiring"}
    assert doc["commonLabels"] == {"alertname": "TokenExpiring", "app": "growth", "severity": "critical"}
    assert doc["externalURL"] == msg.external_url
    first = doc["alerts"][0]
    assert set(first) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert first["startsAt"] == "2026-12-01T09:00:00Z" and first["endsAt"] == "0001-01-01T00:00:00Z"
    assert (
        first["annotations"]["summary"]
        == "Token acme-main (app growth) expires in 1 day 4 hours (2026-12-02T14:00:00Z)"
    )
    assert "expires at 2026-12-02T14:00:00Z, in 1 day 4 hours" in first["annotations"]["description"]


def test_webhook_without_secret_is_unsigned_and_resolved_has_ends_at() -> None:
    resolved = event(status="resolved", ends_at=NOW, kind="resolve")
    with HttpReceiver() as http:
        WebhookHarness("webhook", http).notifier(secret=None).send(message(resolved))
        (request,) = http.wait_for(1)
    assert "X-Threads-Monitor-Signature" not in request.headers
    doc = json.loads(request.body)
    assert doc["status"] == "resolved" and doc["alerts"][0]["endsAt"] == "2026-12-01T10:00:00Z"


def test_slack_blocks_cap_alerts_and_honour_slack_errors() -> None:
    many = [event(f"tok-{i:02d}") for i in range(25)]
    with HttpReceiver() as http:
        slack = SlackHarness("slack", http).notifier()
        slack.send(message(*many))
        doc = json.loads(http.wait_for(1)[0].body)
        http.respond(410, {}, "channel_is_archived")
        with pytest.raises(NotifyError) as archived:
            slack.send(message())
        http.respond(429, {"Content-Type": "application/json"}, '{"ok": false, "retry_after": 30}')
        with pytest.raises(NotifyError) as limited:
            slack.send(message())
    assert doc["text"].startswith("[FIRING:25] TokenExpiring (app growth)")
    kinds = [b["type"] for b in doc["blocks"]]
    assert kinds == ["header"] + ["section"] * 21 + ["context"]
    assert doc["blocks"][-2]["text"]["text"] == "_and 5 more_"
    assert archived.value.permanent and "channel_is_archived" in str(archived.value)
    assert not limited.value.permanent and limited.value.retry_after == 30


@pytest.mark.parametrize("mode", ["starttls", "ssl", "none"])
def test_email_modes_subject_and_parts(tmp_path: Path, mode: str) -> None:
    with SmtpReceiver(tmp_path, mode=mode, auth=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        msg = message()
        EmailHarness(smtp).notifier().send(msg)
        (delivery,) = smtp.wait_for(1)
        assert smtp.logins  # authenticated
    email = delivery.message
    assert email["Subject"] == "[FIRING:2] TokenExpiring (app growth)"
    assert msg.delivery_id in email["Message-ID"]
    assert delivery.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert email.get_content_type() == "multipart/alternative"
    html_part = email.get_body(("html",))
    assert html_part is not None and "<strong>Token acme-main (app growth)" in html_part.get_content()


def test_email_untrusted_certificate_fails_without_leaking(tmp_path: Path) -> None:
    with SmtpReceiver(tmp_path, mode="starttls") as smtp:
        notifier = EmailHarness(smtp).notifier(ca_file=None, username=None)
        with pytest.raises(NotifyError) as info:
            notifier.send(message())
    assert "SSLCertVerificationError" in str(info.value) and SMTP_PASSWORD not in str(info.value)


def test_email_wrong_password_is_permanent(tmp_path: Path) -> None:
    with (
        SmtpReceiver(tmp_path, mode="none", auth=(SMTP_USER, SMTP_PASSWORD)) as smtp,
        pytest.raises(NotifyError) as info,
    ):
        EmailHarness(smtp).notifier(password="wrong-password").send(message())
    assert info.value.permanent and "535" in str(info.value)


def test_alertmanager_posts_postable_alerts_with_basic_auth() -> None:
    resolved = event("acme-backup", status="resolved", ends_at=NOW - 60, kind="resolve")
    with HttpReceiver() as http:
        AlertmanagerHarness("alertmanager", http).notifier().send(message(event(), resolved))
        (request,) = http.wait_for(1)
    assert request.path == "/api/v2/alerts"
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(f"am:{AM_PASSWORD}".encode()).decode()
    )
    firing, done = json.loads(request.body)
    assert firing["labels"]["token"] == "acme-main" and firing["startsAt"] == "2026-12-01T09:00:00Z"
    assert firing["endsAt"] > "2026-12-02T10:00:00Z"  # claims past the repeat interval, re-sent meanwhile
    assert done["endsAt"] == "2026-12-01T09:59:00Z"
    assert firing["generatorURL"] == "http://monitor.example:9469/"


def test_console_line_format() -> None:
    stream = io.StringIO()
    ConsoleNotifier(Cfg(name="c", type="console"), clock=lambda: NOW, stream=stream).send(message())
    assert stream.getvalue().splitlines() == [
        "2026-12-01T10:00:00Z FIRING critical TokenExpiring token=acme-main app=growth: "
        "expires in 1 day 4 hours (2026-12-02T14:00:00Z)",
        "2026-12-01T10:00:00Z FIRING critical TokenExpiring token=acme-backup app=growth: "
        "expires in 3 hours 5 minutes (2026-12-01T13:05:00Z)",
    ]


# --- pure parts ---


def test_message_json_round_trip() -> None:
    msg = message(
        event(annotations={"summary": "s"}), event("b", status="resolved", ends_at=NOW + 0.125, at=None)
    )
    assert Message.from_json(msg.to_json()) == msg
    assert Message.from_json(msg.to_json()).alerts[1].ends_at == NOW + 0.125


@pytest.mark.parametrize(
    ("cfg", "evt", "ok"),
    [
        (Cfg("a", "console"), event(severity="warning"), True),
        (Cfg("a", "console", min_severity="critical"), event(severity="warning"), False),
        (Cfg("a", "console", min_severity="critical"), event(), True),
        (Cfg("a", "console", match={"app": "growth"}), event(), True),
        (Cfg("a", "console", match={"app": "growth", "team": "x"}), event(), False),
        (Cfg("a", "console"), event(status="resolved", ends_at=NOW), True),
        (Cfg("a", "console", send_resolved=False), event(status="resolved", ends_at=NOW), False),
        (Cfg("a", "console", min_severity="critical"), event(status="resolved", severity="warning"), False),
    ],
)
def test_accepts(cfg: Cfg, evt: AlertEvent, ok: bool) -> None:
    assert accepts(cfg, evt) is ok


def test_classify_http() -> None:
    classify_http(204, {}, "")
    for status, permanent in [
        (500, False),
        (503, False),
        (408, False),
        (404, True),
        (400, True),
        (301, True),
    ]:
        with pytest.raises(NotifyError) as info:
            classify_http(status, {}, "x")
        assert info.value.permanent is permanent, status
    assert parse_retry_after("Tue, 01 Dec 2026 10:00:30 GMT", now=NOW) == 30
    assert parse_retry_after("soon", NOW) is None and parse_retry_after("-5", NOW) == 0


def test_texts_explain_what_happened() -> None:
    invalid = event(
        alertname="TokenInvalid", labels={"token": "t1", "app": "growth", "reason": "password_changed"}
    )
    assert "the user changed their password" in description(invalid, NOW)
    inspector = event(alertname="InspectorInvalid", labels={"app": "growth", "reason": "dev_mode"})
    assert "development mode" in description(inspector, NOW) and "Threads app id" in description(
        inspector, NOW
    )
    lost = event(alertname="TokenScopesLost", labels={"token": "t1", "scopes": "threads_content_publish"})
    assert "threads_content_publish" in description(lost, NOW)
    data = event(alertname="TokenDataAccessExpiring", at=NOW + 2 * 86400)
    assert (
        "Data access of token acme-main (app growth) expires at 2026-12-03T10:00:00Z, in 2 days"
        in description(data, NOW)
    )
    expired = event(at=NOW - 7200)
    assert "expired at 2026-12-01T08:00:00Z, 2 hours ago" in description(expired, NOW)
    source = event(alertname="SourceFailing", labels={"source": "app-db"})
    assert "app-db" in description(source, NOW)
    assert description(event(annotations={"description": "given"}), NOW) == "given"
    assert (
        title(message(event(status="resolved", ends_at=NOW)))
        == "[RESOLVED] TokenExpiring (token acme-main app growth)"
    )


def test_html_escapes_everything() -> None:
    nasty = event(labels={"token": "<script>alert(1)</script>", "app": "a&b"})
    html_text = render_html(message(nasty), NOW)
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text and "a&amp;b" in html_text


@pytest.fixture
def real_alertmanager(tmp_path: Path) -> Iterator[str]:
    alertmanager = tool("prometheus-alertmanager", "alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: default\nreceivers:\n  - name: default\n", encoding="utf-8")
    port = free_port()
    args = [
        alertmanager,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"Alertmanager exited: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        try:
            return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(ready, 30, "Alertmanager to answer /-/ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_alertmanager_accepts_and_resolves(real_alertmanager: str) -> None:
    cfg = Cfg(name="am", type="alertmanager", settings={"url": real_alertmanager})
    now = time.time()
    firing = event(starts_at=now - 60, at=now + 86400 + 2 * 3600)
    notifier = NOTIFIER_TYPES["alertmanager"](cfg)
    notifier.send(message(firing))
    alerts = requests.get(f"{real_alertmanager}/api/v2/alerts", timeout=5).json()
    (stored,) = [a for a in alerts if a["labels"].get("token") == "acme-main"]
    assert stored["labels"]["alertname"] == "TokenExpiring" and stored["labels"]["app"] == "growth"
    assert "expires in 1 day 2 hours" in stored["annotations"]["summary"]
    notifier.send(message(replace(firing, status="resolved", ends_at=now - 1, kind="resolve")))
    alerts = requests.get(f"{real_alertmanager}/api/v2/alerts", timeout=5).json()
    assert not [a for a in alerts if a["labels"].get("token") == "acme-main"]


def test_alertmanager_test_alert_ends_soon() -> None:
    """`notify test` must not leave an alert firing in Alertmanager for a day."""
    from monitor.notify.alertmanager import postable
    from monitor.notify.base import AlertEvent, Message

    now = 1_800_000_000.0
    event = AlertEvent(
        alertname="TestNotification",
        status="firing",
        severity="warning",
        labels={"alertname": "TestNotification"},
        annotations={},
        starts_at=now,
        ends_at=None,
        fingerprint="f",
        kind="test",
    )
    message = Message(delivery_id="d", notifier="am", group_key="{}", alerts=(event,), created_at=now)
    sent = postable(event, message, now, resolve_timeout=26 * 3600)
    assert sent["endsAt"] == "2027-01-15T08:05:00Z"


def test_webhook_timestamped_signature_lets_receivers_refuse_replays() -> None:
    """X-Threads-Monitor-Signature-V1: t=<unix>,v1=<hex HMAC of "<t>.<body>">, re-signed on every attempt."""
    clock = [1_800_000_000.0]
    with HttpReceiver() as http:
        notifier = WebhookHarness("webhook", http).notifier()
        notifier.clock = lambda: clock[0]
        notifier.send(message())
        clock[0] += 600
        notifier.send(message())
        first, retry = http.wait_for(2)
    for request, at in ((first, 1_800_000_000), (retry, 1_800_000_600)):
        stamp, _, mac = request.headers["X-Threads-Monitor-Signature-V1"].partition(",")
        assert stamp == f"t={at}"
        expected = hmac.new(
            HMAC_SECRET.encode(), f"{at}.".encode() + request.body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(mac, f"v1={expected}")
    # The body alone does not verify against the timestamped form: a replay with a new t fails.
    forged = hmac.new(HMAC_SECRET.encode(), b"1800009999." + first.body, hashlib.sha256).hexdigest()
    assert f"v1={forged}" != first.headers["X-Threads-Monitor-Signature-V1"].partition(",")[2]
