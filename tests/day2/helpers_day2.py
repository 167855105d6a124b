"""A world for the day-2 tests: the simulator, a registry, the real daemon as a child process with a webhook,
an email, an Apprise (json://) and a console notifier on real receivers, and the real CLI.

    world = Day2World.make(tmp_path, db_url, sim, hook, smtp, apprise)
    with world.daemon() as d: ...
    world.cli("tokens", "set-token", "acme", "--token-env", "NEW", env={"NEW": token})
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet
from receivers import HttpReceiver, SmtpReceiver
from support import wait_until

from monitor.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
APP = "growth"


@dataclass
class Day2World:
    fleet: Fleet
    sim: Simulator
    hook: HttpReceiver
    tmp_path: Path
    smtp: SmtpReceiver | None = None
    apprise: HttpReceiver | None = None
    daemons: list[DaemonProcess] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # everything the CLI printed, for the secrets scan

    @classmethod
    def make(
        cls,
        tmp_path: Path,
        db_url: str,
        sim: Simulator,
        hook: HttpReceiver,
        smtp: SmtpReceiver | None = None,
        apprise: HttpReceiver | None = None,
        **sections: dict[str, Any],
    ) -> Day2World:
        fleet = make_fleet(tmp_path, db_url, sim, alerts={"group_wait": "1s"}, **sections)
        text = f'\n[[notifiers]]\nname = "hook"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n'
        text += '\n[[notifiers]]\nname = "console"\ntype = "console"\n'
        if smtp is not None:
            text += (
                f'\n[[notifiers]]\nname = "mail"\ntype = "email"\nsmtp_host = "127.0.0.1"\n'
                f'smtp_port = {smtp.port}\nsecurity = "none"\nfrom = "monitor@example.com"\n'
                'to = ["ops@example.com"]\n'
            )
        if apprise is not None:
            text += f'\n[[notifiers]]\nname = "apprise"\ntype = "apprise"\nurls = "json://127.0.0.1:{apprise.port}/a"\n'
        with fleet.config_path.open("a", encoding="utf-8") as fh:
            fh.write(text)
        fleet.add_app(APP)
        return cls(fleet, sim, hook, tmp_path, smtp, apprise)

    # --- the daemon and the CLI --------------------------------------------------------------------

    @contextmanager
    def daemon(self, name: str = "daemon") -> Iterator[DaemonProcess]:
        process = DaemonProcess(self.fleet.config_path, self.tmp_path / f"{name}.log")
        self.daemons.append(process)
        try:
            url = f"http://{self.fleet.config.http.listen}/healthz"
            wait_until(lambda: _ok(url) or process.proc.poll() is not None, 30, f"{name} to serve")
            assert process.proc.poll() is None, process.output()[-3000:]
            yield process
        finally:
            process.stop()

    def cli(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.fleet.config_path), *args],
            capture_output=True, text=True, timeout=60, cwd=ROOT, input=stdin,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.outputs += [done.stdout, done.stderr]
        return done

    # --- what the receivers got --------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every webhook request, in order."""
        return [a for r in self.hook.requests.items for a in json.loads(r.body)["alerts"]]

    def wait_alert(self, name: str, token: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for a in self.alerts():
                labels = a["labels"]
                if labels["alertname"] == name and labels.get("token") == token and a["status"] == status:
                    return a
            return None

        return wait_until(found, timeout, f"{name} {status} for {token} at the webhook")

    def texts(self) -> str:
        """Everything every notifier said: webhook payloads, emails, Apprise posts and the console."""
        parts = [r.body.decode("utf-8", "replace") for r in self.hook.requests.items]
        if self.smtp is not None:
            parts += [m.raw.decode("utf-8", "replace") for m in self.smtp.messages.items]
        if self.apprise is not None:
            parts += [r.body.decode("utf-8", "replace") for r in self.apprise.requests.items]
        parts += [d.output() for d in self.daemons]
        return "\n".join(parts)

    def leaks(self) -> list[str]:
        return leaked(self.texts() + "\n".join(self.outputs))


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


class InProcessCli:
    """`main([--config PATH, ...])` in-process, stdin and environment under the test's control."""

    def __init__(self, config: Path, capsys: Any, monkeypatch: Any) -> None:
        self.config, self.capsys, self.monkeypatch = config, capsys, monkeypatch

    def __call__(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        import io

        from monitor.cli import main

        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        for key, value in (env or {}).items():
            self.monkeypatch.setenv(key, value)
        try:
            code = main(["--config", str(self.config), *args])
        except SystemExit as exc:  # argparse: usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
        code, out, err = self(*args, stdin=stdin, env=env)
        assert code == 0, (args, out, err)
        return out
