"""deploy/alertmanager/: the configuration passes the real `amtool check-config`, routes what the README
promises where it promises (`amtool config routes test`), and its template links every alert, the daemon's
own included, to its runbook page. Inhibitions need a running Alertmanager: tests/test_deploy_stack.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from support import tool

ROOT = Path(__file__).resolve().parent.parent
AM_DIR = ROOT / "deploy" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yml"
TEMPLATE = AM_DIR / "threads-token-monitor.tmpl"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_BASE = "https://docs.example.com/threads-token-monitor/runbooks/"
DAEMON_ALERTS = ("TokenExpiring", "TokenDataAccessExpiring", "TokenInvalid", "TokenScopesLost",
                 "TokenCheckFailing", "InspectorInvalid", "TokenRefreshFailed", "SourceFailing")  # fmt: skip


def amtool(*args: str, cwd: Path = AM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool"), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_amtool_check_config_accepts_the_example() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert re.search(r"\b9 inhibit rules\b", done.stdout), done.stdout
    assert re.search(r"\b1 templates\b", done.stdout), done.stdout


def test_amtool_check_config_would_refuse_a_broken_one(tmp_path: Path) -> None:
    """The check above can fail: a route to a receiver that does not exist is refused."""
    broken = CONFIG.read_text(encoding="utf-8").replace(
        "receiver: team-ads-email", "receiver: team-ads-pager", 1
    )
    (tmp_path / "alertmanager.yml").write_text(broken, encoding="utf-8")
    (tmp_path / TEMPLATE.name).write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    done = amtool("check-config", "alertmanager.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "team-ads-pager" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        # Prometheus' ThreadsTokenInvalid with the team joined from threads_token_labels.
        (["alertname=ThreadsTokenInvalid", "token=acme", "app=growth", "label_team=growth"],
         "team-growth-slack"),
        # The daemon's own alert, with the token's registry label.
        (["alertname=TokenExpiring", "token=acme", "app=growth", "team=growth", "severity=critical"],
         "team-growth-slack"),
        (["alertname=ThreadsTokenInvalid", "token=zed", "app=ads", "label_team=ads"], "team-ads-email"),
        (["alertname=TokenInvalid", "token=zed", "app=ads", "team=ads"], "team-ads-email"),
        # No team, or a team without a route: the operators.
        (["alertname=ThreadsTokenMonitorDown", "instance=a:9469"], "ops-webhook"),
        (["alertname=TokenInvalid", "token=x", "app=growth", "team=nobody"], "ops-webhook"),
        (["alertname=InspectorInvalid", "app=legacy"], "ops-webhook"),
        # The Watchdog goes to the dead man's switch, whatever else it carries.
        (["alertname=Watchdog", "severity=none"], "deadmans-switch"),
        (["alertname=Watchdog", "label_team=growth"], "deadmans-switch"),
    ],
)  # fmt: skip
def test_routes(labels: list[str], receiver: str) -> None:
    done = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *labels
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [receiver]


def test_routes_test_would_notice_a_wrong_receiver() -> None:
    done = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=ops-webhook",
        "alertname=Watchdog",
    )  # fmt: skip
    assert done.returncode != 0


def _render(alerts: list[dict[str, object]], text: str, tmp_path: Path) -> str:
    data = tmp_path / "data.json"
    data.write_text(
        json.dumps({"receiver": "x", "status": "firing", "alerts": alerts, "groupLabels": {},
                    "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am"}),
        encoding="utf-8",
    )  # fmt: skip
    done = amtool(
        "template",
        "render",
        f"--template.glob={TEMPLATE}",
        f"--template.data={data}",
        f"--template.text={text}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_template_links_every_daemon_alert_to_its_runbook(tmp_path: Path) -> None:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "severity": "warning"},
            "annotations": {"summary": name},
        }
        for name in DAEMON_ALERTS
    ]
    links = _render(
        alerts, '{{ range .Alerts }}{{ template "threads.runbook" . }}\n{{ end }}', tmp_path
    ).split()
    assert len(links) == len(DAEMON_ALERTS)
    for name, link in zip(DAEMON_ALERTS, links, strict=True):
        assert link.startswith(RUNBOOK_BASE) and link.endswith("/"), link
        page = RUNBOOKS / (link.removeprefix(RUNBOOK_BASE).rstrip("/") + ".md")
        assert page.is_file(), f"{name}: {link} has no page"
        assert f"`{name}`" in page.read_text(encoding="utf-8")


def test_the_message_keeps_a_rules_runbook_url_and_says_why_it_resolved(tmp_path: Path) -> None:
    alerts = [
        {"status": "firing", "labels": {"alertname": "ThreadsTokenInvalid", "severity": "critical"},
         "annotations": {"summary": "Threads token acme is invalid", "description": "Token acme (app growth)",
                         "runbook_url": RUNBOOK_BASE + "token-invalid/"}},
        {"status": "resolved", "labels": {"alertname": "TokenInvalid", "severity": "critical"},
         "annotations": {"summary": "hooli is invalid", "resolved_reason": "replaced"}},
    ]  # fmt: skip
    text = _render(alerts, '{{ template "threads.text" . }}', tmp_path)
    assert "*critical* Threads token acme is invalid\nToken acme (app growth)\n" in text
    assert f"Runbook: {RUNBOOK_BASE}token-invalid/\n" in text
    assert "*resolved* hooli is invalid\nResolved: replaced\n" in text
    assert text.count(f"Runbook: {RUNBOOK_BASE}token-invalid/") == 2
