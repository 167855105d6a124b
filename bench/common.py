"""Shared set-up for the benchmarks: a simulator in its own process, a registry of N tokens, a table printer.

The simulator runs in a separate process so that it does not share the measured process's GIL or CPU
accounting: what is measured is the monitor's own cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.crypto import Vault, create_key_file  # noqa: E402
from monitor.db import migrate  # noqa: E402
from monitor.db.session import make_engine, make_sessionmaker, transaction  # noqa: E402
from monitor.registry import NewToken, add_app, add_tokens  # noqa: E402

if TYPE_CHECKING:
    from bench.record import Record

DAY = 86400.0
APP_ID, INSPECTOR = "900001", "BENCH-INSPECTOR-TOKEN"


def token_string(i: int) -> str:
    return f"BENCHTOK{i:07d}x{uuid.uuid5(uuid.NAMESPACE_OID, str(i)).hex[:16]}"


@dataclass
class SimProcess:
    url: str
    proc: subprocess.Popen

    def control(self, action: str, **params: object) -> dict:
        r = requests.get(
            f"{self.url}/__sim/{action}", params={k: str(v) for k, v in params.items()}, timeout=10
        )
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict:
        return self.control("stats")


@contextmanager
def simulator(
    n_tokens: int, latency: float = 0.0, now: float | None = None, expiring: float = 0.0
) -> Iterator[SimProcess]:
    """A simulator process serving tokens 0..n-1 of app APP_ID (healthy, 30 days left unless told); with
    `expiring`, that fraction of them (every 1/expiring-th) has 5 days left: inside the warning."""
    now = now or time.time()
    every = round(1 / expiring) if expiring else 0
    with tempfile.TemporaryDirectory(prefix="ttm-bench-sim") as tmp:
        doc = {
            "apps": [{"app_id": APP_ID, "inspector": INSPECTOR}],
            "tokens": [
                {
                    "token": token_string(i),
                    "app_id": APP_ID,
                    "issued_at": now - 30 * DAY,
                    "expires_at": now + (5 if every and i % every == 0 else 30) * DAY,
                    "data_access_expires_at": now + 60 * DAY,
                }
                for i in range(n_tokens)
            ],
            "faults": [{"kind": "latency", "seconds": latency}] if latency else [],
        }
        spec, port_file = Path(tmp) / "tokens.json", Path(tmp) / "port"
        spec.write_text(json.dumps(doc))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.simulator",
                "--port",
                "0",
                "--tokens",
                str(spec),
                "--port-file",
                str(port_file),
            ],
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 120
            while not port_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start")
                time.sleep(0.05)
            yield SimProcess(f"http://127.0.0.1:{port_file.read_text()}", proc)
        finally:
            proc.terminate()
            proc.wait(10)


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh migrated database: 'sqlite' or a server URL (a new database is created and dropped)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    base = make_url(kind)
    name = f"ttm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def fill_registry(url: str, key_file: Path, n_tokens: int, now: float | None = None) -> Vault:
    """Register app 'bench' and tokens bench-0..n-1, all due now."""
    now = now or time.time()
    create_key_file(key_file)
    vault = Vault([key_file])
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        add_app(s, vault, "bench", INSPECTOR, kind="user_token", threads_app_id=APP_ID, now=now)
    for start in range(0, n_tokens, 20000):
        batch = [
            NewToken(f"bench-{i}", "bench", token_string(i))
            for i in range(start, min(n_tokens, start + 20000))
        ]
        with transaction(sessions) as s:
            add_tokens(s, vault, batch, now=now)
    engine.dispose()
    return vault


def postgres_url() -> str | None:
    return os.environ.get("MONITOR_TEST_POSTGRES_URL") or os.environ.get("MONITOR_BENCH_POSTGRES_URL")


def print_table(rows: list[dict]) -> None:
    cols = ["benchmark", "measured", "floor", "ratio", "target", "result"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols), flush=True)


def record_rows(record: Record, rows: list[dict]) -> None:
    """Table rows (benchmark, measured, floor, ratio, target, result) into the run's JSON record."""
    for r in rows:
        ratio = r.get("ratio", "-")
        result = str(r.get("result", "-"))
        record.row(
            str(r["benchmark"]),
            measured=f"{r['measured']} ({ratio})" if ratio not in ("-", "", None) else str(r["measured"]),
            floor=str(r.get("floor", "-")),
            target=str(r.get("target", "-")),
            ok=None if result == "-" else result == "pass",
            raw={k: v for k, v in r.items() if k not in ("benchmark",)},
        )


def bench_main(doc: str | None, run: Callable[[bool], list[dict]], argv: list[str] | None = None) -> int:
    """The command line every table-printing benchmark shares: `--quick` for small sizes. The table goes
    to stdout and, row by row, into the script's JSON record (bench/record.py)."""
    import argparse

    from bench.record import Record

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    quick = parser.parse_args(argv).quick
    module = run.__module__ if run.__module__ != "__main__" else Path(sys.argv[0]).stem  # python -m bench.x
    record = Record(module.rsplit(".", 1)[-1], quick=quick, argv=argv)
    rows = run(quick)
    print_table(rows)
    record_rows(record, rows)
    record.save()
    return 0 if record.passed or quick else 1
