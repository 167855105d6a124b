"""A world for the callback tests: the simulator, a registry with an app secret, a webhook receiver, and the
real daemon (a child process) with [callbacks] on a port of its own.

    world = CallbackWorld.make(tmp_path, db_url, sim, hook)
    world.add_user("111", 2)                 # tokens of Threads user 111, checked once so user_id is known
    with world.daemon("a") as d: ...         # `python -m monitor run`, waited for until it serves
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet, new_secret
from receivers import HttpReceiver
from sqlalchemy import MetaData, create_engine, func, select
from support import free_port, wait_until

from monitor.callbacks import sign_request
from monitor.db.models import Callback, Token
from monitor.db.session import transaction
from monitor.registry import set_app_secret
from monitor.simulator import Simulator

APP = "growth"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class CallbackWorld:
    fleet: Fleet
    sim: Simulator
    hook: HttpReceiver
    tmp_path: Path
    app_secret: str
    api_token: str
    users: dict[str, list[str]] = field(default_factory=dict)  # Threads user id -> token names
    daemons: list[DaemonProcess] = field(default_factory=list)
    scraped: list[str] = field(default_factory=list)  # /metrics texts, for the secrets scan

    @classmethod
    def make(
        cls, tmp_path: Path, db_url: str, sim: Simulator, hook: HttpReceiver, forward_url: str | None = None
    ) -> CallbackWorld:
        api_token, app_secret = new_secret("api"), new_secret("appsecret")
        (tmp_path / "api-token").write_text(api_token + "\n", encoding="utf-8")
        callbacks = {"listen": f"127.0.0.1:{free_port()}", "api_token_file": str(tmp_path / "api-token")}
        if forward_url:
            callbacks["forward_url"] = forward_url
        fleet = make_fleet(tmp_path, db_url, sim, callbacks=callbacks, alerts={"group_wait": "1s"})
        with fleet.config_path.open("a", encoding="utf-8") as fh:
            fh.write(f'\n[[notifiers]]\nname = "hook"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n')
        inspector = fleet.add_app(APP)
        sim.add_app(APP, inspector, application=f"App {APP}", app_secret=app_secret)
        with transaction(fleet.ctx.sessions) as s:
            set_app_secret(s, fleet.ctx.vault, APP, app_secret)
        return cls(fleet, sim, hook, tmp_path, app_secret, api_token)

    # --- the registry ------------------------------------------------------------------------------

    def add_user(self, user_id: str, n: int) -> list[str]:
        names = self.fleet.add_tokens(APP, n, prefix=f"user{user_id}", user_id=user_id)
        self.users[user_id] = names
        return names

    def rows(self) -> dict[str, Token]:
        return self.fleet.rows()

    def wait_checked(self, names: list[str], timeout: float = 60.0) -> None:
        """Until every token named has been checked once (its user_id is then known)."""
        wait_until(
            lambda: all(self.rows()[n].user_id is not None for n in names),
            timeout,
            "first checks of the fleet",
        )

    def queued(self) -> int:
        with self.fleet.ctx.sessions() as s:
            return int(s.scalar(select(func.count()).where(Token.recheck_at.is_not(None))) or 0)

    def callbacks_stored(self, kind: str = "deauthorize") -> int:
        with self.fleet.ctx.sessions() as s:
            return int(s.scalar(select(func.count()).where(Callback.kind == kind)) or 0)

    def debug_calls(self, names: list[str] | None = None) -> int:
        if names is None:
            return self.sim.calls(endpoint="debug_token")
        return sum(self.fleet.calls(names).values())

    # --- the daemon --------------------------------------------------------------------------------

    @property
    def callbacks_url(self) -> str:
        assert self.fleet.config.callbacks is not None
        return f"http://{self.fleet.config.callbacks.listen}"

    def deauthorize_url(self, app: str = APP) -> str:
        return f"{self.callbacks_url}/callbacks/threads/{urllib.parse.quote(app, safe='')}/deauthorize"

    @contextmanager
    def daemon(self, name: str = "daemon", config: Path | None = None) -> Iterator[DaemonProcess]:
        process = DaemonProcess(config or self.fleet.config_path, self.tmp_path / f"{name}.log")
        self.daemons.append(process)
        try:
            http = _listen(config or self.fleet.config_path, "http")
            wait_until(lambda: _healthy(http) or process.proc.poll() is not None, 30, f"{name} to serve")
            assert process.proc.poll() is None, f"{name} exited at start:\n{process.output()[-3000:]}"
            yield process
        finally:
            process.stop()

    def metrics(self) -> str:
        text = requests.get(f"http://{self.fleet.config.http.listen}/metrics", timeout=10).text
        self.scraped.append(text)
        return text

    # --- what Meta and an application send ---------------------------------------------------------

    def signed_body(self, user_id: str, *, secret: str | None = None, issued_at: int | None = None,
                    algorithm: str = "HMAC-SHA256") -> bytes:  # fmt: skip
        signed = sign_request(
            user_id, int(time.time()) if issued_at is None else issued_at, secret or self.app_secret,
            algorithm=algorithm,
        )  # fmt: skip
        return urllib.parse.urlencode({"signed_request": signed}).encode()

    def post_callback(self, body: bytes, app: str = APP, url: str | None = None) -> requests.Response:
        return requests.post(url or self.deauthorize_url(app), data=body, headers=FORM, timeout=10)

    def recheck(self, payload: Any, bearer: str | None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        url = f"{self.callbacks_url}/api/v1/recheck"
        return requests.post(url, data=json.dumps(payload), headers=headers, timeout=10)

    def alertnames(self) -> list[tuple[str, str]]:
        """(alertname, token) of every alert the webhook received."""
        return [
            (a["labels"]["alertname"], a["labels"].get("token", ""))
            for r in self.hook.requests.items
            for a in json.loads(r.body)["alerts"]
        ]

    def scan(self) -> list[str]:
        """Secrets (tokens, inspector, app secret, API token) found in the daemons' output, the webhook
        payloads, the /metrics scrapes or any database column but the encrypted ones."""
        texts = [d.output() for d in self.daemons] + self.scraped + [dump(self.fleet.config.database.url)]
        texts += [r.body.decode("utf-8", "replace") for r in self.hook.requests.items]
        return leaked("\n".join(texts))


ENCRYPTED = {("tokens", "secret"), ("apps", "inspector_secret"), ("apps", "callback_secret")}


def dump(url: str) -> str:
    """Every row of every table, all columns but the encrypted ones, as text."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(
                f"{table.name}: {tuple(row)!r}"
                for table in meta.sorted_tables
                for row in conn.execute(
                    select(*[c for c in table.columns if (table.name, c.name) not in ENCRYPTED])
                )
            )
    finally:
        engine.dispose()


def _listen(config: Path, section: str) -> str:
    import tomllib

    return str(tomllib.loads(config.read_text(encoding="utf-8"))[section]["listen"])


def _healthy(listen: str) -> bool:
    try:
        return requests.get(f"http://{listen}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
