"""API calls per token per day with the default schedule, and database growth per token per 30 days.

- Calls: a mixed population (mostly healthy, some near expiry, a few invalid) scheduled by the real
  `next_check_at` with the default config, against a probe-on-every-scrape design (a 60 s scrape calling
  debug_token for every token: 1,440 calls per token per day). Also the worst-case detection delay for a
  revoked token that the default config implies.
- Growth: 30 simulated days of checking (injected clock; simulator in-process with the same clock) with a
  snapshot only on change, against one row per check, in bytes per token per 30 days on SQLite.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.common import DAY, bench_main
from monitor.check.observe import Cadence, next_check_at
from monitor.check.sweep import Sweeper
from monitor.config.load import default_config
from monitor.crypto import Vault, create_key_file
from monitor.db import migrate
from monitor.db.models import Snapshot, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.graph.client import GraphClient
from monitor.registry import NewToken, add_app, add_tokens
from monitor.simulator import Simulator

SCRAPE_PROBE_CALLS = 86400 / 60  # debug_token for every token on every 60 s scrape


def population(n: int, rng: random.Random) -> list[tuple[str, float | None, float | None]]:
    """(result, expires_in, data_access_in) in seconds: 90% healthy, 6% warning, 3% critical, 1% invalid."""
    out = []
    for i in range(n):
        r = i % 100
        if r < 90:
            out.append(("valid", rng.uniform(10, 60) * DAY, rng.uniform(20, 90) * DAY))
        elif r < 96:
            out.append(("valid", rng.uniform(2, 7) * DAY, rng.uniform(20, 90) * DAY))
        elif r < 99:
            out.append(("valid", rng.uniform(0.2, 2) * DAY, rng.uniform(20, 90) * DAY))
        else:
            out.append(("invalid", None, None))
    return out


def calls_per_day(n: int = 2000, seed: int = 7) -> tuple[float, Cadence]:
    s = default_config().schedule
    cadence = Cadence(min_interval=s.min_check_interval, max_interval=s.max_check_interval, jitter=s.jitter)
    rng = random.Random(seed)
    total = 0
    for result, exp_in, dae_in in population(n, rng):
        t = 0.0
        while t < DAY:
            t = next_check_at(
                result=result,
                expires_at=None if exp_in is None else exp_in,
                data_access_expires_at=None if dae_in is None else dae_in,
                consecutive_failures=0,
                retry_after=None,
                cadence=cadence,
                now=t,
                rand=rng.random(),
            )
            total += 1
    return total / n, cadence


def growth(n_tokens: int, days: int) -> tuple[float, float, int, int]:
    """Simulate `days` of sweeps.

    Returns (bytes/token/30d with snapshots on change, the same with a row per check, rows, checks)."""
    clock = [time.time()]
    now = lambda: clock[0]  # noqa: E731 - the injected clock shared by simulator and sweeper
    with tempfile.TemporaryDirectory(prefix="ttm-bench-growth") as tmp, Simulator(clock=now) as sim:
        url = f"sqlite:///{Path(tmp) / 'g.sqlite3'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        create_key_file(Path(tmp) / "key")
        vault = Vault([Path(tmp) / "key"])
        sessions = make_sessionmaker(engine)
        sim.add_app("1", "GROWTH-INSPECTOR")
        rng = random.Random(3)
        tokens = []
        for i, (result, exp_in, dae_in) in enumerate(population(n_tokens, rng)):
            tok = f"GROWTHTOK{i:06d}"
            sim.add_token(
                tok,
                app_id="1",
                state="valid" if result == "valid" else "revoked",
                issued_at=now() - 30 * DAY,
                expires_at=now() + (exp_in or 40 * DAY),
                data_access_expires_at=now() + (dae_in or 80 * DAY),
            )
            tokens.append(NewToken(f"g-{i}", "g", tok))
        with transaction(sessions) as s:
            add_app(s, vault, "g", "GROWTH-INSPECTOR", kind="user_token", threads_app_id="1", now=now())
            add_tokens(s, vault, tokens, now=now())
        client = GraphClient(base_url=sim.url, retries=0)
        sweeper = Sweeper(
            sessions=sessions,
            vault=vault,
            client=client,
            cadence=Cadence(),
            owner="g",
            concurrency=8,
            clock=now,
        )
        checks, end = 0, now() + days * DAY
        refreshed = False
        while now() < end:
            checks += sweeper.sweep().inspected
            if (
                not refreshed and now() > end - days * DAY / 2
            ):  # half-way: 10% of tokens get refreshed elsewhere
                for t in tokens[: n_tokens // 10]:
                    sim.update_token(t.token, expires_at=now() + 60 * DAY, issued_at=now())
                refreshed = True
            with engine.connect() as conn:  # skip idle sweep intervals: jump to the next due check
                due = conn.scalar(select(func.min(Token.next_check_at))) or end
            clock[0] = max(clock[0] + 30, min(due, end))
        sweeper.close()
        client.close()
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Snapshot))
        per_row = bytes_per_snapshot_row(engine)
        engine.dispose()
    scale = 30 / days / n_tokens
    return rows * per_row * scale, checks * per_row * scale, rows, checks


def bytes_per_snapshot_row(engine, sample: int = 20000) -> float:
    """Measured: file growth of a SQLite database per inserted snapshot row (typical values)."""
    path = Path(engine.url.database)
    with engine.begin() as conn:
        token_id = conn.scalar(select(func.min(Snapshot.token_id)))
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    row = {
        "token_id": token_id,
        "result": "valid",
        "reason": None,
        "fingerprint": "0123456789ab",
        "is_valid": True,
        "expires_at": 1.8e9,
        "data_access_expires_at": 1.81e9,
        "issued_at": 1.79e9,
        "scopes": "threads_basic threads_content_publish",
        "token_type": "USER",
        "application": "Demo App",
        "user_id": "1000",
        "error_code": None,
        "error_subcode": None,
    }
    with engine.begin() as conn:
        conn.execute(insert(Snapshot), [dict(row, observed_at=1.79e9 + i) for i in range(sample)])
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return (path.stat().st_size - before) / sample


def run(quick: bool = False) -> list[dict]:
    per_day, cadence = calls_per_day(200 if quick else 5000)
    ratio = SCRAPE_PROBE_CALLS / per_day
    delay = cadence.max_interval + default_config().schedule.sweep_interval
    change, every, rows, checks = growth(10 if quick else 50, 2 if quick else 30)
    return [
        {
            "benchmark": "API calls per token per day (default config, mixed fleet)",
            "measured": f"{per_day:.2f}",
            "floor": f"{SCRAPE_PROBE_CALLS:.0f} (probe on every 60 s scrape)",
            "ratio": f"{ratio:.0f}x fewer",
            "target": "(information)",
            "result": "-",
        },
        {
            "benchmark": "worst-case detection delay, revoked healthy token",
            "measured": f"{delay / 3600:.2f} h",
            "floor": "60 s (probe on scrape)",
            "ratio": "-",
            "target": "max_check_interval + sweep_interval",
            "result": "-",
        },
        {
            "benchmark": f"DB growth per token per 30 days ({rows} snapshots for {checks} checks)",
            "measured": f"{change / 1024:.1f} KiB",
            "floor": f"{every / 1024:.1f} KiB (one row per check)",
            "ratio": f"{every / max(change, 1):.0f}x smaller",
            "target": "(information)",
            "result": "-",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
