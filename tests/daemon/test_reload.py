"""SIGHUP reload in-process: what a valid new config changes at once; an invalid one changes nothing."""

from __future__ import annotations

from pathlib import Path

from conftest import write_config

from monitor.config.load import load_config
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.daemon.lifecycle import Daemon
from monitor.db import migrate
from monitor.simulator import Simulator


def test_reload_applies_schedule_budget_and_thresholds_and_refuses_a_bad_file(
    tmp_path: Path, sqlite_url: str
) -> None:
    key = tmp_path / "secret.key"
    create_key_file(key)
    with Simulator() as sim:
        base = (
            f'[threads]\nbase_url = "{sim.url}"\nmax_calls_per_hour = 100\n[http]\nlisten = "127.0.0.1:0"\n'
        )
        path = write_config(
            tmp_path / "config.toml", sqlite_url, key, base + '[schedule]\nsweep_interval = "1s"\n'
        )
        config = load_config(path)
        ctx = Context(config)
        migrate.upgrade(ctx.engine)
        ctx.close()
        daemon = Daemon(config)
        daemon.start()
        try:
            changed = base.replace("max_calls_per_hour = 100", "max_calls_per_hour = 40")
            changed += '[schedule]\nsweep_interval = "7s"\nlease = "2m"\n'
            changed += '[alerts]\nexpiry = { warning = "9d", critical = "1d" }\n'
            write_config(path, sqlite_url, key, changed)
            assert daemon.reload(path)
            job = daemon._scheduler.get_job("sweep")  # type: ignore[union-attr]
            assert job.trigger.interval.total_seconds() == 7
            assert daemon.budget.per_hour == 40 and daemon.sweeper.lease == 120
            assert daemon.ctx.horizons.expiry_warning == 9 * 86400

            path.write_text(path.read_text() + '\n[schedule]\nsweep_interval = "soon"\n')
            assert not daemon.reload(path)
            assert daemon._scheduler.get_job("sweep").trigger.interval.total_seconds() == 7  # type: ignore[union-attr]
            assert daemon.budget.per_hour == 40
        finally:
            daemon.stop()
