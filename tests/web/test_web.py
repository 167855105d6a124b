"""The HTTP endpoint of a real in-process daemon checking tokens against the simulator.

/metrics is scraped over HTTP and parsed with prometheus_client's parser; values are compared with what
the simulator served. TLS and basic auth run on a WebServer of their own with a self-signed certificate.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers_daemon import Fleet, config_text, make_fleet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from support import wait_until

from monitor.config.load import HttpConfig
from monitor.daemon.lifecycle import Daemon
from monitor.db.session import transaction
from monitor.registry import remove_token
from monitor.simulator import Simulator
from monitor.web.server import WebServer

DAY = 86400.0
EVIL_SCOPE = "<script>alert(1)</script>"
Samples = dict[tuple[str, str], float]  # (metric name, token) -> value


@dataclass
class Env:
    sim: Simulator
    fleet: Fleet
    daemon: Daemon
    url: str
    sections: dict[str, dict[str, object]]

    def scrape(self, accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        return requests.get(f"{self.url}/metrics", headers=headers, timeout=10)

    def samples(self) -> Samples:
        resp = self.scrape()
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(
            "text/plain; version=0.0.4"
        )
        out: Samples = {}
        for family in text_string_to_metric_families(resp.text):
            for s in family.samples:
                if "token" in s.labels and s.name != "threads_token_scope_granted":
                    out[(s.name, s.labels["token"])] = s.value
        return out

    def reconfigure(self, **metrics: object) -> None:
        """Rewrite the config file and reload it, as SIGHUP does."""
        sections = {**self.sections, "metrics": metrics}
        config = self.fleet.config
        text = config_text(config.database.url, config.security.key_files[0], self.sim.url, sections)
        self.fleet.config_path.write_text(text, encoding="utf-8")
        assert self.daemon.reload(self.fleet.config_path)

    def checked(self, name: str, after: float) -> bool:
        row = self.fleet.rows()[name]
        return row.last_check_at is not None and row.last_check_at > after


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("web")
    sections: dict[str, dict[str, object]] = {
        "http": {"listen": "127.0.0.1:0"},
        "threads": {"retries": 0},
        "log": {"level": "warning"},
    }
    with Simulator() as sim:
        fleet = make_fleet(tmp, f"sqlite:///{tmp / 'monitor.sqlite3'}", sim, **sections)
        fleet.add_app("growth")
        fleet.add_tokens("growth", 3, prefix="ok")
        fleet.add_tokens("growth", 1, prefix="soon", expires_at=time.time() + 3 * DAY)
        fleet.add_tokens("growth", 1, prefix="dead", state="expired")
        fleet.add_tokens("growth", 1, prefix="odd", scopes=("threads_basic", EVIL_SCOPE))
        daemon = Daemon(fleet.config)
        daemon.start()
        try:
            wait_until(lambda: all(r.last_check_at for r in fleet.rows().values()), 20, "the first sweep")
            yield Env(sim, fleet, daemon, f"http://127.0.0.1:{daemon.web.port}", sections)
        finally:
            daemon.stop()
            fleet.close()


def test_metrics_show_what_the_simulator_served(env: Env) -> None:
    samples = env.samples()
    for name, token in env.fleet.tokens.items():
        served = env.sim.token_state(token)
        if served["state"] == "valid":
            assert samples[("threads_token_valid", name)] == 1.0
            assert samples[("threads_token_expires_at_timestamp_seconds", name)] == int(served["expires_at"])
            assert samples[("threads_token_data_access_expires_at_timestamp_seconds", name)] == int(
                served["data_access_expires_at"])  # fmt: skip
            assert samples[("threads_token_issued_at_timestamp_seconds", name)] == int(served["issued_at"])
        else:
            assert samples[("threads_token_valid", name)] == 0.0
        assert samples[("threads_token_check_success", name)] == 1.0
        assert samples[("threads_token_info", name)] == 1.0
    text = env.scrape().text
    info = 'threads_token_info{app="growth",application="App growth",token="ok-00000",type="USER",user_id="1000"}'  # noqa: E501
    assert info in text
    assert (
        'threads_token_scope_granted{app="growth",scope="threads_content_publish",token="ok-00001"} 1.0'
        in text
    )
    fleet = {(f.name, s.labels.get("state")): s.value for f in text_string_to_metric_families(text)
             for s in f.samples if f.name == "threads_monitor_tokens"}  # fmt: skip
    assert (
        fleet[("threads_monitor_tokens", "ok")] == 4.0 and fleet[("threads_monitor_tokens", "invalid")] == 1.0
    )
    assert fleet[("threads_monitor_tokens", "warning")] + fleet[("threads_monitor_tokens", "critical")] == 1.0
    assert 'threads_monitor_checks_total{result="valid"}' in text and "threads_monitor_build_info{" in text
    assert 'threads_monitor_api_requests_total{code="200",endpoint="debug_token"}' in text


def test_metrics_are_gzipped_when_the_scraper_asks(env: Env) -> None:
    url = f"{env.url}/metrics"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    with requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True) as packed:
        raw = packed.raw.read(decode_content=False)
        headers = packed.headers
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(raw) < len(plain.content)
    text = gzip.decompress(raw).decode()  # two members: the cached token part, then the live series

    def names(body: str) -> set[str]:
        return {family.name for family in text_string_to_metric_families(body)}

    assert names(text) == names(plain.text) and "threads_token_valid" in names(text)
    counts = {s.labels["encoding"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "threads_monitor_scrapes_total"}  # fmt: skip
    assert counts["gzip"] >= 1 and counts["identity"] >= 1


def test_failing_removed_and_refreshed_tokens(env: Env) -> None:
    fleet, sim = env.fleet, env.sim
    before = env.samples()
    started = time.time()
    sim.set_fault("http_error", token=fleet.tokens["ok-00000"], status=500)
    new_expiry = int(time.time() + 59 * DAY)
    sim.update_token(fleet.tokens["ok-00001"], expires_at=new_expiry)
    fleet.make_due(["ok-00000", "ok-00001"])
    wait_until(
        lambda: env.checked("ok-00000", started) and env.checked("ok-00001", started), 20, "the rechecks"
    )
    with transaction(fleet.ctx.sessions) as s:
        remove_token(s, "ok-00002", now=time.time())
    after = env.samples()
    sim.clear_faults()
    # failing: the last answer is kept, check_success drops to 0
    assert after[("threads_token_check_success", "ok-00000")] == 0.0
    for metric in ("threads_token_valid", "threads_token_expires_at_timestamp_seconds"):
        assert after[(metric, "ok-00000")] == before[(metric, "ok-00000")]
    # refreshed: the gauge moves, one series only
    assert after[("threads_token_expires_at_timestamp_seconds", "ok-00001")] == new_expiry
    assert (
        env.scrape().text.count('threads_token_expires_at_timestamp_seconds{app="growth",token="ok-00001"}')
        == 1
    )
    # removed: every series gone
    assert not [key for key in after if key[1] == "ok-00002"]


def test_openmetrics_when_asked(env: Env) -> None:
    resp = env.scrape("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")


def test_per_token_modes_and_scopes_follow_a_reload(env: Env) -> None:
    try:
        env.reconfigure(per_token="problems", scopes=False)
        text = env.scrape().text
        tokens = {s.labels["token"] for f in text_string_to_metric_families(text) for s in f.samples
                  if f.name == "threads_token_info"}  # fmt: skip
        assert "ok-00003" not in tokens and {"dead-00000", "soon-00000"} <= tokens
        assert "threads_token_scope_granted" not in text
        env.reconfigure(per_token="none", scopes=True)
        text = env.scrape().text
        assert "threads_token_info{" not in text and 'threads_monitor_tokens{state="invalid"} 1.0' in text
    finally:
        env.reconfigure(per_token="all", scopes=True)


def test_healthz_and_a_database_outage(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = requests.get(f"{env.url}/healthz", timeout=10)
    assert resp.status_code == 200 and resp.json()["status"] == "ok" and resp.json()["scheduler"] is True
    # The daemon's one engine (health, metrics and pages use it) now connects to a database that is down.
    down = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    monkeypatch.setattr(env.daemon.engine, "connect", down.connect)
    try:
        resp = requests.get(f"{env.url}/healthz", timeout=10)
        assert resp.status_code == 503 and resp.json()["database"] is False
        scrape = env.scrape()
        assert scrape.status_code == 503 and "database" in scrape.text
    finally:
        monkeypatch.undo()
        down.dispose()
    assert env.scrape().status_code == 200  # the server survived


def test_status_page(env: Env) -> None:
    resp = requests.get(f"{env.url}/", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.text
    for name in env.fleet.rows():  # the registered ones (another test removed one)
        assert f"<td>{name}</td>" in page
    assert EVIL_SCOPE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<meta name="viewport"' in page and '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page.lower()
    for token in env.fleet.tokens.values():
        assert token not in page


def test_head_and_unknown_paths(env: Env) -> None:
    head = requests.head(f"{env.url}/metrics", timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 0 and head.content == b""
    assert requests.get(f"{env.url}/nope?access_token=x", timeout=10).status_code == 404


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_tls_and_basic_auth(env: Env, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    http = HttpConfig(listen="127.0.0.1:0", tls_cert_file=cert, tls_key_file=key, basic_auth_username="prom",
                      basic_auth_password="s3cret:pass")  # fmt: skip
    web = WebServer(http, registry=env.daemon.registry, health=lambda: (True, {"status": "ok"}),
                    sessions=env.daemon.sessions, horizons=env.daemon.horizons)  # fmt: skip
    web.start()
    try:
        base = f"https://127.0.0.1:{web.port}"
        for path in ("/metrics", "/healthz", "/"):
            denied = requests.get(base + path, verify=str(cert), timeout=10)
            assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
        wrong = requests.get(base + "/metrics", verify=str(cert), auth=("prom", "nope"), timeout=10)
        assert wrong.status_code == 401
        ok = requests.get(base + "/metrics", verify=str(cert), auth=("prom", "s3cret:pass"), timeout=10)
        assert ok.status_code == 200 and "threads_token_info{" in ok.text
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{web.port}/healthz", timeout=5)  # plain HTTP on a TLS port
        assert requests.get(base + "/healthz", verify=str(cert), auth=("prom", "s3cret:pass"), timeout=10).ok
    finally:
        web.stop()


def test_tokens_table_untouched_by_scrapes(env: Env) -> None:
    """A scrape only reads: the rows' update times do not move."""
    before = {n: r.updated_at for n, r in env.fleet.rows().items()}
    env.scrape()
    assert {n: r.updated_at for n, r in env.fleet.rows().items()} == before


def test_a_flood_of_idle_clients_costs_bounded_threads_and_metrics_come_back(env: Env) -> None:
    """100 clients that open a connection and send half a request line: the endpoint takes at most its
    connection cap of them (the rest get 503 at once), cuts each at the request deadline, and /metrics
    answers again; the process never holds a thread per client."""
    host, port = env.url.removeprefix("http://").split(":")
    before = threading.active_count()
    idle = []
    for _ in range(100):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"GET /metr")
        idle.append(sock)
    try:
        assert threading.active_count() - before <= 64 + 4
        wait_until(lambda: _scrape_ok(env), 30, "/metrics to answer beside the idle flood")
    finally:
        for sock in idle:
            sock.close()


def _scrape_ok(env: Env) -> bool:
    try:
        return env.scrape().status_code == 200
    except requests.RequestException:
        return False


def test_a_get_with_a_body_is_answered_once(env: Env) -> None:
    """A GET whose body was left unread used to be parsed as a second request on the same connection."""
    host, port = env.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(
            b"GET /nope HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
        )
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 ") == 2 and data.startswith(b"HTTP/1.1 404")
