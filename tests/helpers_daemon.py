"""Shared helpers for the sweep and daemon tests: a registry wired to the simulator, daemon subprocesses.

    fleet = make_fleet(tmp_path, db_url, sim, schedule={"lease": "10s"})
    names = fleet.add_tokens("acme", 100)               # registered in the database AND in the simulator
    sweeper = fleet.sweeper(clock=lambda: now[0])        # in-process
    with DaemonProcess(fleet.config_path) as d: ...      # `threads-token-monitor run` as a subprocess

Every token and inspector string made here is recorded in SECRETS, so a test can scan any output for them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support import free_port, wait_until  # noqa: F401 - wait_until: still importable from here

from monitor.check.observe import Cadence
from monitor.check.sweep import Sweeper
from monitor.config.load import Config, load_config
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.db import migrate
from monitor.db.models import App, Snapshot, Token
from monitor.db.session import transaction
from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator import Simulator

SECRETS: set[str] = set()


def new_secret(kind: str) -> str:
    """A unique, recognisable secret string (recorded for the leak scan)."""
    value = f"THAA{kind}SECRET{uuid.uuid4().hex}"
    SECRETS.add(value)
    return value


def leaked(text: str, secrets: Iterable[str] | None = None) -> list[str]:
    """The secrets (shown by fingerprint-like prefix only) that appear in `text`."""
    return sorted(s[:12] + "..." for s in (SECRETS if secrets is None else secrets) if s in text)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return f'"{value}"'


def config_text(db_url: str, key_file: Path, sim_url: str, sections: dict[str, dict[str, Any]]) -> str:
    merged: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "security": {"key_file": str(key_file)},
        "threads": {
            "base_url": sim_url,
            "timeout": "2s",
            "concurrency": 16,
            "retries": 2,
            "max_calls_per_hour": 1_000_000,
        },
        "schedule": {
            "sweep_interval": "1s",
            "lease": "60s",
            "min_check_interval": "5m",
            "max_check_interval": "6h",
        },
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "log": {"level": "debug"},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    lines = []
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


@dataclass
class Fleet:
    """A migrated registry whose apps and tokens also exist in a running simulator."""

    sim: Simulator
    config_path: Path
    config: Config
    ctx: Context
    tokens: dict[str, str] = field(default_factory=dict)  # name -> token string
    inspectors: dict[str, str] = field(default_factory=dict)  # app name -> inspector string

    def config_for_another_daemon(self, name: str) -> Path:
        """A copy of the config with an HTTP port of its own (two daemons on one host need two ports)."""
        import re

        text = self.config_path.read_text(encoding="utf-8")
        text = re.sub(r'listen = "127\.0\.0\.1:\d+"', f'listen = "127.0.0.1:{free_port()}"', text)
        path = self.config_path.with_name(f"{name}.toml")
        path.write_text(text, encoding="utf-8")
        return path

    def add_app(self, name: str, *, state: str = "ok") -> str:
        """Register an app (simulator state ok | invalid | dev_mode) with a user-token inspector."""
        inspector = new_secret(f"insp{name}")
        self.sim.add_app(name, inspector, state=state, application=f"App {name}")
        with transaction(self.ctx.sessions) as s:
            add_app(
                s, self.ctx.vault, name, inspector, kind="user_token", threads_app_id=name, now=time.time()
            )
        self.inspectors[name] = inspector
        return inspector

    def add_tokens(
        self, app: str, n: int, *, state: str = "valid", prefix: str | None = None, **sim_fields: Any
    ) -> list[str]:
        """Register `n` tokens of `app` in the simulator (in `state`) and in the database; returns names."""
        prefix = prefix or f"{app}-{state}"
        new = []
        for i in range(n):
            name, token = f"{prefix}-{i:05d}", new_secret("tok")
            self.sim.add_token(token, app_id=app, state=state, **sim_fields)
            self.tokens[name] = token
            new.append(NewToken(name=name, app=app, token=token))
        with transaction(self.ctx.sessions) as s:
            add_tokens(s, self.ctx.vault, new, now=time.time())
        return [t.name for t in new]

    def rows(self) -> dict[str, Token]:
        with self.ctx.sessions() as s:
            return {t.name: t for t in s.scalars(select(Token))}

    def snapshot_counts(self) -> dict[str, int]:
        stmt = select(Token.name, func.count(Snapshot.id)).join(Snapshot, Snapshot.token_id == Token.id)
        with self.ctx.sessions() as s:
            return dict(s.execute(stmt.group_by(Token.name)).all())

    def app_states(self) -> dict[str, str | None]:
        with self.ctx.sessions() as s:
            return dict(s.execute(select(App.name, App.inspector_state)).all())

    def calls(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """debug_token calls the simulator received per token name."""
        return {n: self.sim.calls(self.tokens[n], "debug_token") for n in (names or self.tokens)}

    def leases(self) -> int:
        with self.ctx.sessions() as s:
            return int(
                s.scalar(select(func.count()).select_from(Token).where(Token.lease_owner.is_not(None))) or 0
            )

    def make_due(self, names: Iterable[str] | None = None, at: float = 0.0) -> None:
        from sqlalchemy import update

        stmt = update(Token).values(next_check_at=at)
        if names is not None:
            stmt = stmt.where(Token.name.in_(list(names)))
        with transaction(self.ctx.sessions) as s:
            s.execute(stmt)

    def sweeper(
        self,
        *,
        clock: Callable[[], float] = time.time,
        owner: str = "test",
        budget: CallBudget | None = None,
        cadence: Cadence | None = None,
        retries: int = 2,
        timeout: float = 2.0,
        concurrency: int = 8,
        lease: float = 60.0,
        rand: Callable[[], float] = lambda: 0.5,
    ) -> Sweeper:
        client = GraphClient(base_url=self.sim.url, timeout=timeout, retries=retries, backoff=0.01)
        sweeper = Sweeper(
            sessions=self.ctx.sessions,
            vault=self.ctx.vault,
            client=client,
            cadence=cadence or Cadence(),
            owner=owner,
            concurrency=concurrency,
            lease=lease,
            budget=budget,
            retries=retries,
            clock=clock,
            rand=rand,
        )
        sweeper.gate_timeout = 10.0
        return sweeper

    def close(self) -> None:
        self.ctx.close()


def make_fleet(tmp_path: Path, db_url: str, sim: Simulator, **sections: dict[str, Any]) -> Fleet:
    """Write a config (sections override the defaults), create the key, migrate the database."""
    key = tmp_path / "secret.key"
    create_key_file(key)
    path = tmp_path / "config.toml"
    path.write_text(config_text(db_url, key, sim.url, sections), encoding="utf-8")
    config = load_config(path)
    ctx = Context(config)
    migrate.upgrade(ctx.engine)
    return Fleet(sim=sim, config_path=path, config=config, ctx=ctx)


def close_sweeper(sweeper: Sweeper) -> None:
    sweeper.close()
    sweeper.client.close()


class DaemonProcess:
    """`threads-token-monitor --config PATH run` in a subprocess; stdout and stderr go to one log file."""

    def __init__(self, config_path: Path, log_path: Path, args: tuple[str, ...] = ("run",)) -> None:
        self.log_path = log_path
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")
        }
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config_path), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        """Everything the daemon wrote so far (stdout and stderr)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def scan_secrets(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Capture every log record at DEBUG (urllib3's URL lines too) and the output; fail if a secret shows."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    yield
    out, err = capsys.readouterr()
    sys.stdout.write(out)
    sys.stderr.write(err)
    records = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert not leaked(caplog.text + records + out + err), "a secret appeared in a log line or in the output"
