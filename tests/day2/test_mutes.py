"""Mutes against the real daemon (in-process, its clock injected) and a real webhook receiver: a muted token
is still checked and shown and its alert fires, but no notifier hears of it while another token's alert is
delivered; when the mute ends by itself, what still fires is notified once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers_daemon import make_fleet
from receivers import HttpReceiver
from support import wait_until

from monitor.cli import main
from monitor.config.load import load_config
from monitor.daemon.lifecycle import Daemon
from monitor.simulator import Simulator
from monitor.timefmt import iso_utc

APP = "growth"
HOUR = 3600.0


class Clock:
    """Real time plus an offset the test moves forward (the daemon's jobs run every few real seconds)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


def firing(hook: HttpReceiver, token: str) -> list[dict]:
    """Every firing TokenInvalid of `token` the webhook received."""
    alerts = [a for r in hook.requests.items for a in json.loads(r.body)["alerts"]]
    return [a for a in alerts if a["labels"].get("token") == token and a["status"] == "firing"]


def test_a_muted_token_reaches_no_notifier_until_the_mute_ends_then_once(
    tmp_path: Path, db_url: str, sim: Simulator, hook: HttpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = make_fleet(tmp_path, db_url, sim, alerts={"group_wait": "1s"})
    with fleet.config_path.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[[notifiers]]\nname = "hook"\ntype = "webhook"\nurl = "{hook.url("/hook")}"\n')
    fleet.add_app(APP)
    (muted,) = fleet.add_tokens(APP, 1, state="revoked", prefix="muted")
    (loud,) = fleet.add_tokens(APP, 1, state="revoked", prefix="loud")
    clock = Clock()
    config = str(fleet.config_path)
    ends = iso_utc(clock() + HOUR)
    assert (
        main(["--config", config, "tokens", "mute", muted, "--until", ends, "--comment", "kept for history"])
        == 0
    )
    daemon = Daemon(load_config(fleet.config_path), clock=clock)
    daemon.start()
    try:
        wait_until(lambda: firing(hook, loud), 60, "the loud token's TokenInvalid at the webhook")
        capsys.readouterr()

        def listed() -> list[dict]:
            assert main(["--config", config, "alerts", "list", "--token", muted, "--json"]) == 0
            return json.loads(capsys.readouterr().out)

        (shown,) = wait_until(listed, 30, "the muted token's alert to fire")
        assert shown["alertname"] == "TokenInvalid" and shown["muted"] is True
        assert shown["muted_until"] == ends and shown["last_notified_at"] is None
        assert firing(hook, muted) == []
        metrics = requests.get(f"http://{fleet.config.http.listen}/metrics", timeout=10).text
        assert f'threads_token_muted{{app="{APP}",token="{muted}"}} 1.0' in metrics
        assert f'token="{loud}"' not in [
            line for line in metrics.splitlines() if "threads_token_muted{" in line
        ]
        assert 'threads_monitor_alerts_firing{alertname="TokenInvalid",severity="critical"} 2.0' in metrics
        assert main(["--config", config, "status", muted, "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert (
            row["state"] == "invalid"
            and row["muted_until"] == ends
            and row["mute_comment"] == "kept for history"
        )
        page = requests.get(f"http://{fleet.config.http.listen}/tokens/{muted}", timeout=10).text
        assert "kept for history" in page and "muted" in page

        clock.offset += 2 * HOUR  # the mute ends by itself
        wait_until(lambda: firing(hook, muted), 60, "the muted token's alert once its mute ended")
        # Something later gets through too: by then a second notification of the muted token would have.
        (later,) = fleet.add_tokens(APP, 1, state="revoked", prefix="later")
        wait_until(lambda: firing(hook, later), 60, "a later token's alert")
        assert len(firing(hook, muted)) == 1 and len(firing(hook, loud)) == 1
        assert main(["--config", config, "alerts", "list", "--token", muted, "--json"]) == 0
        (shown,) = json.loads(capsys.readouterr().out)
        assert shown["last_notified_at"] is not None  # (this CLI's clock is the real one: still "muted")
        metrics = requests.get(f"http://{fleet.config.http.listen}/metrics", timeout=10).text
        assert "threads_token_muted{" not in metrics  # the daemon's clock: the mute is over
    finally:
        daemon.stop()
        fleet.close()
