"""A clean stop tells threads stuck in a call from threads merely waiting for work: only the first are
reported ("hung API calls?") and abandoned; idle pool workers (Apprise keeps a pool of its own) are not.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers_daemon import DaemonProcess, make_fleet
from receivers import HttpReceiver
from support import wait_until

from monitor.simulator import Simulator


def test_idle_pool_workers_are_not_stuck_and_busy_ones_are() -> None:
    from monitor.commands.daemon_cmds import stuck_threads

    release = threading.Event()
    with ThreadPoolExecutor(2, thread_name_prefix="probe") as pool:
        pool.submit(lambda: None).result()  # a worker that did its work and waits for more
        busy = pool.submit(release.wait, 30)
        wait_until(lambda: busy.running(), 10, "the busy worker")
        try:
            stuck = [t.name for t in stuck_threads() if t.name.startswith("probe")]
            assert len(stuck) == 1  # the one inside release.wait; the idle one is not
        finally:
            release.set()
    lonely = threading.Thread(target=release.wait, name="plain")
    release.clear()
    lonely.start()
    try:
        assert "plain" in [t.name for t in stuck_threads()]  # a thread of no pool counts while alive
    finally:
        release.set()
        lonely.join()


def test_sigterm_after_an_apprise_delivery_logs_no_hung_calls(tmp_path: Path, sqlite_url: str) -> None:
    with Simulator() as sim, HttpReceiver() as receiver:
        fleet = make_fleet(tmp_path, sqlite_url, sim, alerts={"group_wait": "1s"})
        url = receiver.url("/apprise").replace("http://", "json://")
        with fleet.config_path.open("a", encoding="utf-8") as fh:
            fh.write(f'\n[[notifiers]]\nname = "phone"\ntype = "apprise"\nurls = ["{url}"]\n')
        fleet.add_app("growth")
        fleet.add_tokens("growth", 1, state="revoked")
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log") as daemon:
            receiver.wait_for(1, timeout=60)  # Apprise delivered: its pool of workers exists and idles
            daemon.send(signal.SIGTERM)
            assert daemon.wait(30) == 0
        output = daemon.output()
        fleet.close()
    assert "stopped" in output
    assert "hung API calls" not in output and "still running" not in output
