"""A flood of replays of one captured deauthorize callback, and the real callbacks another client sends
meanwhile (issue 26).

A real daemon (`python -m monitor run`, a child process so the flood does not share its interpreter) with
[callbacks] and `forward_url` runs against the in-process simulator; `users` Threads users have a token
each, checked once. Then FLOODERS threads replay one captured, valid callback from 127.0.0.1 over keep-alive
connections for `seconds`, while another client (127.0.0.2) sends a real callback for a new user every
second. Measured: replays answered per second, what they cost (rows stored, relays queued, API calls for
the replayed user), and how long each real callback took to reach the application's handler (forward_url).

Before issue 26: every replay was stored, relayed and rechecked; after a 20 s flood 4,948 relays were
pending and a real callback was still not relayed 45 s later. Target now: no replay stored, relayed or
checked; every real callback relayed, within 5 s of being sent, while the flood goes on.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from monitor.callbacks import sign_request  # noqa: E402
from monitor.crypto import Vault, create_key_file  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.models import Callback, Notification, Token  # noqa: E402
from monitor.db.session import make_engine, make_sessionmaker, transaction  # noqa: E402
from monitor.registry import NewToken, add_app, add_tokens, set_app_secret  # noqa: E402
from monitor.simulator import Simulator  # noqa: E402

APP_SECRET = "bench-app-secret-0123456789abcdef"
FLOODERS = 12
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TARGET = 5.0  # seconds from a real callback to its relay


class Handler:
    """The application's own deauthorize handler (forward_url): notes when each body first arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[bytes, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.arrivals.setdefault(body, time.time())
                    outer.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deauth/{{app}}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body_for(user: str, issued_at: int) -> bytes:
    return urllib.parse.urlencode({"signed_request": sign_request(user, issued_at, APP_SECRET)}).encode()


def post(conn: http.client.HTTPConnection, body: bytes) -> int:
    try:
        conn.request("POST", "/callbacks/threads/bench/deauthorize", body=body, headers=FORM)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0


def prepare(tmp: Path, sim: Simulator, handler: Handler, users: int) -> tuple[Path, str, str]:
    """Config, registry and simulator: one token per user. Returns (config path, callbacks, http)."""
    callbacks, web = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    url = f"sqlite:///{tmp}/monitor.sqlite3"
    create_key_file(tmp / "secret.key")
    (tmp / "config.toml").write_text(
        f'[database]\nurl = "{url}"\n[security]\nkey_file = "{tmp}/secret.key"\n'
        f'[threads]\nbase_url = "{sim.url}"\n[http]\nlisten = "{web}"\n[schedule]\nsweep_interval = "1s"\n'
        f'[log]\nlevel = "warning"\n[callbacks]\nlisten = "{callbacks}"\nforward_url = "{handler.url}"\n',
        encoding="utf-8",
    )
    sim.add_app("1", "BENCH-INSPECTOR", app_secret=APP_SECRET)
    engine = make_engine(url)
    upgrade(engine)
    sessions, vault = make_sessionmaker(engine), Vault([tmp / "secret.key"])
    new = []
    for i in range(users):
        sim.add_token(f"BENCH-TOKEN-{i:05d}", app_id="1", user_id=str(1000 + i))
        new.append(NewToken(f"bench-{i:05d}", "bench", f"BENCH-TOKEN-{i:05d}"))
    with transaction(sessions) as s:
        add_app(s, vault, "bench", "BENCH-INSPECTOR", kind="user_token", threads_app_id="1", now=time.time())
        set_app_secret(s, vault, "bench", APP_SECRET)
        add_tokens(s, vault, new, now=time.time())
    engine.dispose()
    return tmp / "config.toml", callbacks, web


def count(url: str, what: Any, *where: Any) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            return int(s.scalar(select(func.count()).select_from(what).where(*where)) or 0)
    finally:
        engine.dispose()


def wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def flood(host: str, port: int, body: bytes, stop: threading.Event, answers: dict[int, int]) -> None:
    conn = None
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.1", 0))
        status = post(conn, body)
        conn = conn if status == 200 else None
        answers[status] = answers.get(status, 0) + 1  # one thread per dict: no lock needed


def run(seconds: float, users: int) -> int:
    with tempfile.TemporaryDirectory() as name, Simulator() as sim:
        tmp, handler = Path(name), Handler()
        config, callbacks, web = prepare(tmp, sim, handler, users)
        url = f"sqlite:///{tmp}/monitor.sqlite3"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], env=env)
        try:
            ok = wait(lambda: _healthy(web), 60) and wait(
                lambda: count(url, Token, Token.user_id.is_not(None)) == users, 120
            )
            if not ok:
                print("the daemon did not start or check its tokens", file=sys.stderr)
                return 1
            sim.reset_counters()
            host, port = callbacks.rsplit(":", 1)
            captured = body_for("1000", int(time.time()))
            first = http.client.HTTPConnection(host, int(port), timeout=10)
            assert post(first, captured) == 200
            stop, tallies = threading.Event(), [dict[int, int]() for _ in range(FLOODERS)]
            threads = [
                threading.Thread(target=flood, args=(host, int(port), captured, stop, t), daemon=True)
                for t in tallies
            ]
            for thread in threads:
                thread.start()
            sent: dict[bytes, float] = {}
            started = time.time()
            user = 1
            while time.time() - started < seconds:
                body = body_for(str(1000 + user), int(time.time()))
                real = http.client.HTTPConnection(
                    host, int(port), timeout=10, source_address=("127.0.0.2", 0)
                )
                sent[body] = time.time()
                status = post(real, body)
                real.close()
                if status != 200:
                    print(f"a real callback was answered {status}", file=sys.stderr)
                user = user % (users - 1) + 1
                time.sleep(1.0)
            stop.set()
            for thread in threads:
                thread.join(15)
            elapsed = time.time() - started
            wait(lambda: all(b in handler.arrivals for b in sent), 60)
            stored = count(url, Callback)
            pending = count(url, Notification, Notification.status == "pending")
        finally:
            daemon.terminate()
            daemon.wait(30)
        replays = sum(t.get(200, 0) for t in tallies)
        turned = sum(n for t in tallies for s, n in t.items() if s != 200)
        delays = [handler.arrivals[b] - at for b, at in sent.items() if b in handler.arrivals]
        missing = len(sent) - len(delays)
        calls = sim.calls("BENCH-TOKEN-00000", "debug_token")
    print(f"flood: {FLOODERS} keep-alive connections from 127.0.0.1 for {elapsed:.1f} s")
    print(
        f"  replays answered 200      {replays} ({replays / elapsed:.0f}/s); {turned} turned away or dropped"
    )
    print(f"  callbacks stored          {stored} (the captured one and {len(sent)} real ones)")
    print(f"  relays delivered          {handler.count} (one per stored callback); pending now {pending}")
    print(f"  debug_token, replayed user {calls}")
    print(f"real callbacks from 127.0.0.2: {len(sent)} sent, {missing} not relayed")
    if delays:
        print(f"  sent -> relayed: median {statistics.median(delays):.2f} s, max {max(delays):.2f} s")
    once = stored == len(sent) + 1 and handler.count == stored and calls <= 1
    good = missing == 0 and once and bool(delays) and max(delays) <= TARGET
    print(f"target: every real callback relayed within {TARGET:g} s, no replay stored or relayed: "
          f"{'pass' if good else 'FAIL'}")  # fmt: skip
    from bench.record import Record

    rec = Record("callback_flood", quick=seconds < 10 or users < 50)
    rec.row(
        f"a flood of callback replays ({FLOODERS} keep-alive connections, {elapsed:.0f} s, {users} users):"
        " real callbacks relayed, median / max",
        measured=(
            f"{statistics.median(delays):.2f} / {max(delays):.2f} s; {missing} of {len(sent)} not relayed"
            if delays
            else f"none relayed of {len(sent)}"
        ),
        floor=f"{replays} replays answered 200, {stored} callbacks stored, {handler.count} relays",
        target=f"every one within {TARGET:g} s, no replay stored or relayed",
        ok=good,
        raw={
            "replays": replays,
            "turned": turned,
            "stored": stored,
            "relays": handler.count,
            "pending": pending,
            "calls": calls,
            "delays": delays,
        },  # fmt: skip
    )
    rec.save()
    return 0 if good else 1


def _healthy(web: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{web}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args(argv)
    return run(args.seconds, args.users)


if __name__ == "__main__":
    raise SystemExit(main())
