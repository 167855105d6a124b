"""Meta's data deletion request against the real daemon (a child process, configured from its TOML file):
the simulator's request is answered with the configured `public_url`, the status page is served on the
callbacks listener, the metric counts it, and neither the database nor the daemon's output names the user."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from helpers_callbacks import APP, CallbackWorld, dump
from receivers import HttpReceiver
from support import wait_until

from monitor.simulator import Simulator

ALICE, BOB = "17841400000333", "17841400000444"
PUBLIC = "https://monitor.example.com"


def test_the_daemon_deletes_a_users_data_on_metas_request(tmp_path: Path, sqlite_url: str) -> None:
    with Simulator() as sim, HttpReceiver() as hook:
        world = CallbackWorld.make(tmp_path, sqlite_url, sim, hook)
        text = world.fleet.config_path.read_text(encoding="utf-8")
        world.fleet.config_path.write_text(
            text.replace("[callbacks]\n", f'[callbacks]\npublic_url = "{PUBLIC}"\n', 1), encoding="utf-8"
        )
        alice, bob = world.add_user(ALICE, 2), world.add_user(BOB, 1)
        try:
            with world.daemon() as daemon:
                world.wait_checked(alice + bob)
                assert ALICE in dump(sqlite_url)
                sim.data_deletion_url = f"{world.callbacks_url}/callbacks/{{platform}}/{{app}}/data-deletion"
                sent = sim.request_data_deletion(world.fleet.tokens[alice[0]])
                code = sent["answer"]["confirmation_code"]
                assert sent["status"] == 200 and sent["answer"]["url"] == f"{PUBLIC}/deletion/{code}"
                page = requests.get(f"{world.callbacks_url}/deletion/{code}", timeout=10)
                assert page.status_code == 200 and "is done" in page.text
                assert set(world.rows()) == set(bob)
                counted = 'threads_monitor_callbacks_total{kind="data_deletion",outcome="accepted"} 1.0'
                wait_until(lambda: counted in world.metrics(), 30, "the deletion counted")
            output = daemon.output()
        finally:
            world.fleet.close()
        assert re.search(rf"data deletion request for app {APP}: deleted 2 tokens", output), output[-2000:]
        assert ALICE not in dump(sqlite_url) and BOB in dump(sqlite_url)
        assert ALICE not in output
        assert world.scan() == [], "a token, app secret or API token appeared in the output"
