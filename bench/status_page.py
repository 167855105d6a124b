"""Status page benchmark: `/`, `/?q=`, a deep `?page=` and `/tokens/NAME` over a 100,000-token registry.

Each page is built by the same function the daemon's endpoint calls (no HTTP server, so the figure is the
page's own cost); the median wall time of several runs and the body size are reported against the targets
(under 0.5 s, under 300 KiB), next to the full read of every token the page did before (`status_rows`).

    .venv/bin/python -m bench.status_page                          # SQLite, 100,000 tokens (about a minute)
    .venv/bin/python -m bench.status_page --db "$MONITOR_TEST_POSTGRES_URL"   # PostgreSQL
    .venv/bin/python -m bench.status_page --tokens 5000 --repeat 3            # quick
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database  # noqa: E402
from monitor.db.models import App, Snapshot, Token  # noqa: E402
from monitor.db.session import make_engine, make_sessionmaker  # noqa: E402
from monitor.state import Horizons  # noqa: E402
from monitor.status import status_rows  # noqa: E402
from monitor.web.routes import fleet_response, token_response  # noqa: E402

DAY = 86400.0
SCOPES = "threads_basic threads_content_publish threads_manage_insights"
TEAMS = ("growth", "search", "ads", "mobile", "ml", "infra", "support", "payments")
TARGET_SECONDS, TARGET_BYTES = 0.5, 300 * 1024
REFRESHED = "token-000042"
NOW = 1_800_000_000.0  # fixed, so every run sees the same fleet


def _kind(rnd: random.Random) -> str:
    x = rnd.random()
    for kind, share in (("invalid", 0.01), ("critical", 0.003), ("warning", 0.01), ("failing", 0.005)):
        if x < share:
            return kind
        x -= share
    return "unchecked" if x < 0.002 else "ok"


def _horizons(kind: str, rnd: random.Random, now: float) -> tuple[float | None, float | None]:
    if kind == "invalid" or kind == "unchecked":
        return None, None
    left = {"critical": rnd.uniform(0.2, 1.9), "warning": rnd.uniform(2.1, 6.9)}.get(kind)
    expires = now + (left if left is not None else rnd.uniform(8, 60)) * DAY
    return expires, now + rnd.uniform(15, 90) * DAY


def token_rows(n: int, now: float, seed: int = 19) -> Iterator[dict[str, Any]]:
    """`n` tokens: about 1% invalid, 1.3% near expiry, 0.5% failing, 0.2% never checked, the rest healthy."""
    rnd = random.Random(seed)
    for i in range(n):
        kind = _kind(rnd)
        expires, data_access = _horizons(kind, rnd, now)
        checked = kind != "unchecked"
        yield {
            "name": f"token-{i:06d}", "app_id": 1 + i % 3, "secret": "bench", "fingerprint": f"{i:012x}",
            "labels": {"team": TEAMS[i % len(TEAMS)], "tier": "gold" if i % 10 == 0 else "standard"},
            "auto_refresh": i % 2 == 0, "source": "crm" if i % 4 == 0 else None,
            "created_at": now - 90 * DAY, "updated_at": now - DAY, "secret_changed_at": now - 40 * DAY,
            "next_check_at": now + 3600, "consecutive_failures": 2 if kind == "failing" else 0,
            "refresh_failures": 0, "last_check_at": now - rnd.uniform(0, 3600) if checked else None,
            "last_success_at": now - rnd.uniform(3600, 7200) if checked else None,
            "last_result": {"failing": "error", "invalid": "invalid", "unchecked": None}.get(kind, "valid"),
            "last_error": "HTTP 500 from debug_token" if kind == "failing" else None,
            "observed_at": now - 7200 if checked else None, "is_valid": {"invalid": False}.get(kind, True)
            if checked else None, "expires_at": expires, "data_access_expires_at": data_access,
            "issued_at": now - rnd.uniform(1, 30) * DAY if checked else None, "scopes": SCOPES,
            "token_type": "USER", "application": "Bench App", "user_id": str(17841400000000000 + i),
            "invalid_reason": "revoked" if kind == "invalid" else None,
        }  # fmt: skip


def snapshot_rows(token_id: int, now: float, refreshes: int) -> list[dict[str, Any]]:
    """A history refreshed every 50 days: each refresh pushes expires_at 60 days past its moment."""
    out = []
    for k in range(refreshes, -1, -1):
        at = now - k * 50 * DAY - 3 * DAY
        out.append({
            "token_id": token_id, "observed_at": at, "result": "valid", "fingerprint": f"{k:012x}",
            "is_valid": True, "expires_at": at + 60 * DAY, "data_access_expires_at": at + 90 * DAY,
            "issued_at": at, "scopes": SCOPES, "token_type": "USER", "application": "Bench App",
        })  # fmt: skip
    return out


def fill(engine: Engine, n: int, now: float) -> None:
    """Three apps, `n` tokens inserted in batches, two snapshots per token and a long history for one."""
    with engine.begin() as conn:
        conn.execute(insert(App), [
            {"id": k, "name": f"app-{k}", "inspector_kind": "user_token", "inspector_secret": "bench",
             "inspector_fingerprint": "0" * 12, "inspector_state": "ok", "created_at": now}
            for k in (1, 2, 3)
        ])  # fmt: skip
        batch: list[dict[str, Any]] = []
        for row in token_rows(n, now):
            batch.append(row)
            if len(batch) == 5000:
                conn.execute(insert(Token), batch)
                batch = []
        if batch:
            conn.execute(insert(Token), batch)
        ids = list(conn.scalars(select(Token.id).order_by(Token.id)))
        for start in range(0, len(ids), 5000):
            snaps = [s for i in ids[start : start + 5000] for s in snapshot_rows(i, now, 1)]
            conn.execute(insert(Snapshot), snaps)
        refreshed = conn.scalar(select(Token.id).where(Token.name == REFRESHED))
        if refreshed is not None:
            conn.execute(insert(Snapshot), snapshot_rows(refreshed, now, 8)[:-2])


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall seconds of `repeat` calls (after one warm-up), and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


FILTERED = "state=invalid&app=app-2&page=2"


def _pages(url: str, n: int) -> list[tuple[str, Callable[[], tuple[int, str, bytes]]]]:
    sessions = make_sessionmaker(make_engine(url))
    now, h = NOW, Horizons()
    deep = max(1, int(n * 0.9) // 100)
    return [
        ("/", lambda: fleet_response(sessions, "", now, h)),
        ("/?q=token-0999 (name search)", lambda: fleet_response(sessions, "q=token-0999", now, h)),
        ("/?q=team=ads (label, 1/8 of the fleet)", lambda: fleet_response(sessions, "q=team%3Dads", now, h)),
        (f"/?page={deep} (deep)", lambda: fleet_response(sessions, f"page={deep}", now, h)),
        ("/?state=invalid&app=app-2&page=2", lambda: fleet_response(sessions, FILTERED, now, h)),
        (f"/tokens/{REFRESHED}", lambda: token_response(sessions, f"/tokens/{REFRESHED}", now, h)),
    ]  # fmt: skip


def measure(kind: str, n: int, repeat: int) -> list[dict[str, Any]]:
    """Fill a fresh database (`kind`: sqlite or a server URL) and time each page and the full read."""
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        engine = make_engine(url)
        started = time.perf_counter()
        fill(engine, n, NOW)
        if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()
        backend = "sqlite" if kind == "sqlite" else "postgresql"
        rows = [{"what": f"fill {n:,} tokens", "backend": backend, "seconds": time.perf_counter() - started}]
        for name, page in _pages(url, n):
            seconds, (status, _, body) = _median(page, repeat)
            assert status == 200, (name, status)
            ok = seconds < TARGET_SECONDS and len(body) < TARGET_BYTES
            rows.append(
                {"what": name, "backend": backend, "seconds": seconds, "bytes": len(body), "pass": ok}
            )
        rows.append(_full_read(url, backend, repeat))
    return rows


def _full_read(url: str, backend: str, repeat: int) -> dict[str, Any]:
    """What the page did on every request before: read and classify every token (`status` still does)."""
    sessions = make_sessionmaker(make_engine(url))

    def read() -> int:
        with sessions() as s:
            return len(status_rows(s, Horizons(), NOW))

    seconds, _ = _median(read, max(1, repeat // 2))
    return {
        "what": "before: status_rows(), every token read (per request)",
        "backend": backend,
        "seconds": seconds,
    }


def table(rows: list[dict[str, Any]]) -> str:
    out = [f"| {'page':<54} | {'backend':<10} | {'seconds':>7} | {'KiB':>6} | result |",
           f"|{'-' * 56}|{'-' * 12}|{'-' * 9}|{'-' * 8}|--------|"]  # fmt: skip
    for r in rows:
        size = f"{r['bytes'] / 1024:.1f}" if "bytes" in r else "-"
        verdict = {True: "pass", False: "FAIL"}.get(r.get("pass"), "-")  # type: ignore[arg-type]
        out.append(
            f"| {r['what']:<54} | {r['backend']:<10} | {r['seconds']:>7.3f} | {size:>6} | {verdict:<6} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite", help='"sqlite" (a temporary file) or a PostgreSQL URL')
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rows = measure(args.db, args.tokens, args.repeat)
    print(f"targets: under {TARGET_SECONDS} s and under {TARGET_BYTES // 1024} KiB per page; "
          f"median of {args.repeat} runs after a warm-up; now = {NOW:.0f}")  # fmt: skip
    print(table(rows))
    from bench.record import Record, plain

    rec = Record("status_page", quick=args.tokens < 100_000)
    for r in rows:
        size = f", {r['bytes'] / 1024:.1f} KiB" if "bytes" in r else ""
        rec.row(
            f"{r['what']}, {args.tokens:,} tokens, {r['backend']}",
            measured=f"{r['seconds']:.3f} s{size}",
            target=f"< {TARGET_SECONDS} s, < {TARGET_BYTES // 1024} KiB" if "pass" in r else "-",
            ok=r.get("pass"),
            raw=plain(r),
        )
    rec.save()
    return 0 if all(r.get("pass") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
