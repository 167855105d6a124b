"""deploy/ run for real: Debian's Prometheus with deploy/prometheus/prometheus.yml and alerts.yml scrapes an
exporter, and Debian's Alertmanager with deploy/alertmanager/ routes and inhibits what it is sent.

Only what a test cannot run as shipped is changed in the copies: addresses (free ports on 127.0.0.1, the
receivers of tests/receivers.py), intervals of a second instead of 30 s, and secret files in a temporary
folder. The exporter serves, in the text format, the series of SPEC sections 6 and 17 that the rules read,
labelled as the daemon labels them (its `job` label included), so the test shows what a real scrape makes
of them: the daemon's `job` stored as `exported_job`, the team label joined onto ThreadsTokenInvalid, the
Watchdog at the dead man's switch.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import requests
import yaml
from receivers import HttpReceiver
from support import free_port, tool, wait_until

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
AM_DIR = ROOT / "deploy" / "alertmanager"
RUNBOOK_BASE = "https://docs.example.com/threads-token-monitor/runbooks/"
DEADLINE = 60  # a bound on a hang, not a timing claim


def exposition(now: float) -> bytes:
    """What a daemon with one invalid token of team growth, a `deliver` job that stopped succeeding an hour
    ago and a refused reload exports (the series the rules read)."""
    return f"""# TYPE threads_monitor_build_info gauge
threads_monitor_build_info{{version="0.2.0"}} 1
# TYPE threads_token_valid gauge
threads_token_valid{{token="acme",app="growth"}} 0
threads_token_valid{{token="umbrella",app="growth"}} 1
# TYPE threads_token_labels gauge
threads_token_labels{{token="acme",app="growth",label_team="growth"}} 1
threads_token_labels{{token="umbrella",app="growth",label_team="growth"}} 1
# TYPE threads_monitor_job_runs_total counter
threads_monitor_job_runs_total{{job="sweep",outcome="ok"}} 12
threads_monitor_job_runs_total{{job="sweep",outcome="error"}} 0
threads_monitor_job_runs_total{{job="deliver",outcome="ok"}} 40
threads_monitor_job_runs_total{{job="deliver",outcome="error"}} 0
# TYPE threads_monitor_job_interval_seconds gauge
threads_monitor_job_interval_seconds{{job="sweep"}} 30
threads_monitor_job_interval_seconds{{job="deliver"}} 2
# TYPE threads_monitor_job_last_success_timestamp_seconds gauge
threads_monitor_job_last_success_timestamp_seconds{{job="sweep"}} {now:.3f}
threads_monitor_job_last_success_timestamp_seconds{{job="deliver"}} {now - 3600:.3f}
# TYPE threads_monitor_last_sweep_timestamp_seconds gauge
threads_monitor_last_sweep_timestamp_seconds {now:.3f}
# TYPE threads_monitor_config_last_reload_successful gauge
threads_monitor_config_last_reload_successful 0
""".encode()


class Exporter:
    """/metrics on a free port of 127.0.0.1, rendered afresh for every scrape."""

    def __init__(self, render: Callable[[float], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = render(time.time())
                head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                self.wfile.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(args: list[str], url: str) -> Iterator[str]:
    """Run a server until its /-/ready answers 200, yield its URL, and stop it."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ready() -> bool:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"{Path(args[0]).name} exited {proc.returncode}: {stderr[-1500:]}")
        try:
            return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(ready, DEADLINE, f"{url}/-/ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as http:
        yield http


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: HttpReceiver) -> Iterator[str]:
    """deploy/alertmanager/alertmanager.yml with its receivers pointed at `receiver` (/ops, /slack-growth,
    /deadman) and a group wait of 1 s."""
    config = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "smtp-password").write_text("not-used\n", encoding="utf-8")
    (secrets / "slack-growth").write_text(receiver.url("/slack-growth") + "\n", encoding="utf-8")
    config["global"]["smtp_auth_password_file"] = str(secrets / "smtp-password")
    config["templates"] = [str(AM_DIR / name) for name in config["templates"]]
    config["route"]["group_wait"] = "1s"
    receivers = {r["name"]: r for r in config["receivers"]}
    receivers["ops-webhook"]["webhook_configs"][0]["url"] = receiver.url("/ops")
    receivers["team-growth-slack"]["slack_configs"][0]["api_url_file"] = str(secrets / "slack-growth")
    receivers["deadmans-switch"]["webhook_configs"][0]["url"] = receiver.url("/deadman")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    args = [
        tool("prometheus-alertmanager", "alertmanager"),
        f"--config.file={path}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    yield from _serve(args, f"http://127.0.0.1:{port}")


@pytest.fixture
def prometheus(tmp_path: Path, alertmanager: str) -> Iterator[str]:
    """deploy/prometheus/prometheus.yml scraping an Exporter every second, alerting to `alertmanager`."""
    exporter = Exporter(exposition)
    try:
        yield from run_prometheus(tmp_path, exporter.address, alertmanager.removeprefix("http://"))
    finally:
        exporter.close()


def run_prometheus(tmp_path: Path, target: str, alertmanager: str) -> Iterator[str]:
    """deploy/prometheus/prometheus.yml scraping `target` every second, alerting to `alertmanager`."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s")
    job["static_configs"][0]["targets"] = [target]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    args = [
        tool("prometheus"),
        f"--config.file={path}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Alerts evaluated before the Alertmanager is discovered are sent again after this, not after 1 min.
        "--rules.alert.resend-delay=1s",
    ]
    yield from _serve(args, f"http://127.0.0.1:{port}")


def _prometheus_alerts(url: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{url}/api/v1/alerts", timeout=5).json()
    return list(answer["data"]["alerts"])


def _received(receiver: HttpReceiver, path: str, alertname: str) -> list[dict[str, Any]]:
    """The alerts named `alertname` that reached `path` of the receiver so far."""
    found = []
    for request in list(receiver.requests.items):
        if request.path == path:
            body = json.loads(request.body)
            found += [a for a in body.get("alerts", []) if a["labels"].get("alertname") == alertname]
    return found


def test_prometheus_scrapes_evaluates_and_alertmanager_routes(
    prometheus: str, receiver: HttpReceiver
) -> None:
    # The daemon's `job` label is stored as exported_job; the target's job stays.
    def job_series() -> list[dict[str, str]]:
        query = {"match[]": "threads_monitor_job_runs_total"}
        return list(requests.get(f"{prometheus}/api/v1/series", params=query, timeout=5).json()["data"])

    series = wait_until(job_series, DEADLINE, "threads_monitor_job_runs_total in the TSDB")
    assert {s["exported_job"] for s in series} == {"sweep", "deliver"}
    assert {s["job"] for s in series} == {"threads-token-monitor"}

    # The rules, on what was really scraped: the team joined onto the invalid token (pending: `for: 5m`),
    # the stale job named by exported_job, the refused reload.
    def rule_states() -> dict[str, list[dict[str, Any]]] | None:
        alerts = _prometheus_alerts(prometheus)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for alert in alerts:
            by_name.setdefault(alert["labels"]["alertname"], []).append(alert)
        wanted = {
            "ThreadsTokenInvalid",
            "ThreadsTokenMonitorJobStale",
            "ThreadsTokenMonitorConfigReloadFailed",
        }
        return by_name if wanted <= set(by_name) else None

    states = wait_until(rule_states, DEADLINE, "the rules to see the scraped series")
    (invalid,) = states["ThreadsTokenInvalid"]
    assert invalid["state"] == "pending"
    assert invalid["labels"]["token"] == "acme" and invalid["labels"]["label_team"] == "growth"
    (stale,) = states["ThreadsTokenMonitorJobStale"]
    assert stale["state"] == "firing" and stale["labels"]["exported_job"] == "deliver"
    assert stale["annotations"]["runbook_url"] == RUNBOOK_BASE + "job-stale/"
    assert "SweepBehind" not in " ".join(states)  # the sweep is on time

    # Alertmanager: the Watchdog at the dead man's switch, the stale job (no team) at the operators' webhook.
    wait_until(lambda: _received(receiver, "/deadman", "Watchdog"), DEADLINE, "the Watchdog at the switch")
    (sent,) = wait_until(
        lambda: _received(receiver, "/ops", "ThreadsTokenMonitorJobStale"), DEADLINE, "the stale job at /ops"
    )
    assert sent["labels"]["exported_job"] == "deliver"
    assert not _received(receiver, "/ops", "Watchdog")


def _post(alertmanager: str, *alerts: dict[str, str]) -> None:
    now = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    body = [
        {"labels": labels, "annotations": {"summary": f"{labels['alertname']} {labels.get('token', '')}"},
         "startsAt": stamp(now - 60), "endsAt": stamp(now + 3600)}
        for labels in alerts
    ]  # fmt: skip
    answer = requests.post(f"{alertmanager}/api/v2/alerts", json=body, timeout=5)
    assert answer.status_code == 200, answer.text


def test_alertmanager_inhibits_and_routes_per_team(alertmanager: str, receiver: HttpReceiver) -> None:
    """As the daemon's `alertmanager` notifier and Prometheus would send them."""
    growth = {"app": "growth", "team": "growth"}
    job = {"job": "threads-token-monitor"}
    _post(
        alertmanager,
        {"alertname": "TokenInvalid", "token": "hooli", **growth, "severity": "critical"},
        {"alertname": "TokenExpiring", "token": "hooli", **growth, "severity": "warning"},
        {"alertname": "TokenExpiring", "token": "acme", **growth, "severity": "warning"},
        {"alertname": "InspectorInvalid", "app": "legacy", "severity": "critical", "reason": "dev_mode"},
        {
            "alertname": "ThreadsTokenCheckFailing",
            "token": "stark",
            "app": "legacy",
            **job,
            "severity": "warning",
        },
        {
            "alertname": "ThreadsTokenCheckFailing",
            "token": "wayne",
            "app": "partner",
            **job,
            "severity": "warning",
        },
        {"alertname": "ThreadsTokenMonitorDown", "instance": "a:9469", **job, "severity": "critical"},
        {"alertname": "ThreadsTokenMonitorAbsent", "severity": "critical"},
    )

    def states() -> dict[tuple[str, str], dict[str, Any]] | None:
        alerts = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        found = {(a["labels"]["alertname"], a["labels"].get("token", "")): a["status"] for a in alerts}
        suppressed = {key for key, status in found.items() if status["state"] == "suppressed"}
        return found if len(found) == 8 and len(suppressed) == 3 else None

    found = wait_until(states, DEADLINE, "the three inhibitions")
    assert found[("TokenExpiring", "hooli")]["inhibitedBy"], "a dead token's expiry says nothing new"
    assert found[("ThreadsTokenCheckFailing", "stark")]["inhibitedBy"], "its app's inspector is refused"
    assert found[("ThreadsTokenMonitorAbsent", "")]["inhibitedBy"], "the monitor is down: the same news"
    for key in (("TokenExpiring", "acme"), ("ThreadsTokenCheckFailing", "wayne"), ("TokenInvalid", "hooli")):
        assert found[key]["state"] == "active", key

    # The team's receiver gets the dead token, with its runbook (the daemon's alert has no runbook_url: the
    # template derives it from the alert's name).
    def slack_text() -> str:
        bodies = [json.loads(r.body) for r in list(receiver.requests.items) if r.path == "/slack-growth"]
        texts = [attachment.get("text", "") for body in bodies for attachment in body.get("attachments", [])]
        return next((text for text in texts if "TokenInvalid hooli" in text), "")

    text = wait_until(slack_text, DEADLINE, "TokenInvalid at the growth team's Slack")
    assert f"Runbook: {RUNBOOK_BASE}token-invalid/" in text
