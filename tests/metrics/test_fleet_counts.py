"""The fleet counts the database keeps (migration 0012, monitor.metrics.fleet) equal the full counts.

Differential: after every step of a random history of inserts, single and bulk updates, source changes,
deletes, source syncs and foldings, `read_fleet` must give what counting the tokens table gives (COUNT(*),
the source GROUP BY, the valid tokens per expiry window), on every backend, at instants whose windows end
exactly on, just before and just after bucket boundaries and stored horizons.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, create_key_file
from monitor.db.fleet_tables import FleetCount, FleetDelta
from monitor.db.migrate import upgrade
from monitor.db.models import App, Token
from monitor.db.session import make_engine
from monitor.metrics.fleet import (
    BUCKET,
    COMPACT_EVERY,
    HORIZONS,
    VACUUM_AFTER,
    VACUUM_EVERY,
    WINDOWS,
    FleetCountsComponent,
    bucket_of,
    bucket_start,
    compact,
    read_fleet,
)
from monitor.sources.apply import apply_sync
from monitor.sources.read import SourceRow

NOW = 1_800_000_123.25
HOUR, DAY = 3600.0, 86400.0
SOURCES = (None, None, "crm", "erp", "")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(App),
            [
                {
                    "id": k,
                    "name": f"app-{k}",
                    "inspector_kind": "user_token",
                    "inspector_secret": "x",
                    "inspector_fingerprint": "0" * 12,
                    "created_at": NOW,
                }
                for k in (1, 2)
            ],
        )
    yield engine
    engine.dispose()


def truth(conn: Connection, now: float) -> tuple[int, list[tuple[str, int]], list[int]]:
    """What counting the tokens table says (the queries read_stored used before migration 0012)."""
    total = conn.scalar(select(func.count()).select_from(Token))
    sources = conn.execute(
        select(Token.source, func.count()).where(Token.source.is_not(None)).group_by(Token.source)
    ).all()
    expiring = [
        conn.scalar(
            select(func.count()).select_from(Token).where(Token.is_valid.is_(True), column <= now + seconds)
        )
        for _, column in HORIZONS
        for seconds in WINDOWS
    ]
    return int(total or 0), sorted((str(s), int(n)) for s, n in sources), [int(n or 0) for n in expiring]


def assert_equal(engine: Engine, nows: list[float]) -> None:
    with engine.connect() as conn:
        for now in nows:
            fleet = read_fleet(conn, now)
            assert (fleet.total, fleet.sources, fleet.expiring) == truth(conn, now), now


def horizon(rnd: random.Random) -> float | None:
    """A horizon on, beside or between the edges the reader cuts at: a window's end, the start of the bucket
    it ends in or of the next, any bucket boundary; or anywhere."""
    pick = rnd.random()
    if pick < 0.1:
        return None
    if pick < 0.25:
        return NOW + rnd.uniform(-3 * DAY, 35 * DAY)
    end = NOW + rnd.choice(WINDOWS)
    edge = rnd.choice(
        [
            end,
            math.floor(end / BUCKET) * BUCKET,
            (math.floor(end / BUCKET) + 1) * BUCKET,
            math.floor((NOW + rnd.uniform(-2 * DAY, 32 * DAY)) / BUCKET) * BUCKET,
        ]
    )
    jitter = rnd.choice(["none", "none", "up", "down", "half", "-half"])
    if jitter in ("up", "down"):
        return math.nextafter(edge, math.inf if jitter == "up" else -math.inf)
    return edge + {"none": 0.0, "half": 0.5, "-half": -0.5}[jitter]


def row(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "name": f"t-{i}",
        "app_id": 1 + i % 2,
        "secret": "x",
        "fingerprint": f"{i:012x}",
        "labels": {},
        "auto_refresh": False,
        "source": rnd.choice(SOURCES),
        "created_at": NOW,
        "updated_at": NOW,
        "secret_changed_at": NOW,
        "next_check_at": NOW,
        "consecutive_failures": 0,
        "refresh_failures": 0,
        "is_valid": rnd.choice([True, True, True, False, None]),
        "expires_at": horizon(rnd),
        "data_access_expires_at": horizon(rnd),
    }


def nows(rnd: random.Random) -> list[float]:
    """NOW, a bucket boundary, and instants whose windows end exactly on a stored horizon."""
    at = [NOW, math.floor(NOW / BUCKET) * BUCKET, NOW + 0.5]
    return at + [NOW + rnd.choice([0.0, 1e-6, -1e-6, HOUR / 2]) for _ in range(2)]


def step(conn: Connection, rnd: random.Random, ids: list[int], counter: list[int]) -> None:
    """One random write, like the daemon's or the CLI's."""
    what = rnd.choice(["insert", "insert_many", "update", "update", "bulk", "delete", "bulk_delete"])
    if what == "insert" or not ids:
        counter[0] += 1
        conn.execute(insert(Token).values(row(counter[0], rnd)))
    elif what == "insert_many":
        rows = [row(counter[0] + k + 1, rnd) for k in range(rnd.randint(2, 40))]
        counter[0] += len(rows)
        conn.execute(insert(Token), rows)
    elif what == "update":
        values: dict[str, Any] = {}
        for column in rnd.sample(["is_valid", "expires_at", "data_access_expires_at", "source"], 2):
            values[column] = (
                rnd.choice([True, False, None])
                if column == "is_valid"
                else rnd.choice(SOURCES)
                if column == "source"
                else horizon(rnd)
            )
        conn.execute(update(Token).where(Token.id == rnd.choice(ids)).values(**values))
    elif what == "bulk":
        k = rnd.randint(0, 2)
        bulk: dict[str, Any] = rnd.choice(
            [
                {"is_valid": False},
                {"is_valid": True},
                {"expires_at": Token.expires_at + HOUR / 2},
                {"data_access_expires_at": Token.data_access_expires_at - DAY},
                {"source": "erp"},
            ]
        )
        conn.execute(update(Token).where(Token.id % 3 == k).values(**bulk))
    elif what == "delete":
        conn.execute(delete(Token).where(Token.id == rnd.choice(ids)))
    else:
        conn.execute(delete(Token).where(Token.id % 7 == rnd.randint(0, 6)))
    ids[:] = list(conn.scalars(select(Token.id)))


@pytest.mark.parametrize("seed", [1, 2])
def test_random_writes_keep_the_counts_exact(engine: Engine, seed: int) -> None:
    rnd = random.Random(seed)
    ids: list[int] = []
    counter = [0]
    for n in range(40):
        with engine.begin() as conn:
            step(conn, rnd, ids, counter)
        if rnd.random() < 0.3:
            compact(engine)
        assert_equal(engine, nows(rnd)[: 2 if n % 5 else 5])
    compact(engine)
    assert_equal(engine, nows(rnd))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FleetDelta)) == 0
        assert conn.scalar(select(func.count()).select_from(FleetCount).where(FleetCount.tokens == 0)) == 0


def test_an_update_of_other_columns_writes_no_delta(engine: Engine) -> None:
    """A check that moves only last_check_at (or writes the same horizon again) costs the triggers nothing."""
    rnd = random.Random(3)
    with engine.begin() as conn:
        conn.execute(insert(Token), [row(i, rnd) for i in range(20)])
    compact(engine)
    with engine.begin() as conn:
        conn.execute(update(Token).values(last_check_at=NOW, updated_at=NOW + 1))
        conn.execute(update(Token).values(expires_at=Token.expires_at, source=Token.source))
        assert conn.scalar(select(func.count()).select_from(FleetDelta)) == 0
    assert_equal(engine, [NOW])


def test_a_source_sync_adds_changes_and_retires_counted(engine: Engine, tmp_path: Path) -> None:
    key = tmp_path / "key"
    create_key_file(key)
    vault = Vault([key])
    rows = [SourceRow(f"s-{i}", "app-1", f"THAA{i:040d}", {}) for i in range(30)]
    with Session(engine) as s, s.begin():
        apply_sync(s, vault, "crm", rows, NOW)
    assert_equal(engine, [NOW])
    with engine.begin() as conn:  # checks observe them: valid, with horizons
        conn.execute(
            update(Token).values(is_valid=True, expires_at=NOW + 3 * DAY, data_access_expires_at=NOW)
        )
    kept = rows[10:] + [SourceRow("s-new", "app-2", "THAA" + "9" * 40, {"team": "a"})]
    with Session(engine) as s, s.begin():
        apply_sync(s, vault, "crm", kept, NOW)
    assert_equal(engine, [NOW, NOW + 3 * DAY - 3 * DAY])
    compact(engine)
    assert_equal(engine, [NOW])
    with engine.connect() as conn:
        assert read_fleet(conn, NOW).sources == [("crm", 21)]


def test_concurrent_folds_lose_and_double_nothing(engine: Engine) -> None:
    """Two daemons folding while a writer writes: every delta is folded once (or is still waiting)."""
    import threading

    rnd = random.Random(5)
    with engine.begin() as conn:
        conn.execute(insert(Token), [row(i, rnd) for i in range(300)])
    stop = threading.Event()
    errors: list[BaseException] = []

    def fold() -> None:
        while not stop.is_set():
            try:
                compact(engine)
            except Exception as exc:  # a lost race on a new count row: that fold rolled back whole
                if "IntegrityError" not in type(exc).__name__ and "unique" not in str(exc).lower():
                    errors.append(exc)

    threads = [threading.Thread(target=fold) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        local = random.Random(6)
        for _ in range(60):
            with engine.begin() as conn:
                conn.execute(
                    update(Token)
                    .where(Token.id == local.randint(1, 300))
                    .values(is_valid=local.choice([True, False]), expires_at=horizon(local))
                )
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert_equal(engine, [NOW])
    compact(engine)
    assert_equal(engine, [NOW])


def test_migration_fills_the_counts_from_existing_rows(tmp_path: Path, db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0009")
        rnd = random.Random(8)
        with engine.begin() as conn:
            conn.execute(
                insert(App).values(
                    id=1,
                    name="a",
                    inspector_kind="user_token",
                    inspector_secret="x",
                    inspector_fingerprint="0" * 12,
                    created_at=NOW,
                )
            )
            conn.execute(insert(Token), [row(i, rnd) | {"app_id": 1} for i in range(200)])
        upgrade(engine)
        assert_equal(engine, nows(rnd))
    finally:
        engine.dispose()


def test_bucket_start_is_the_first_double_of_its_bucket() -> None:
    for b in (0.0, 1.0, 500_000.0, 511_111.0):
        lo = bucket_start(b)
        assert bucket_of(lo) >= b > bucket_of(math.nextafter(lo, -math.inf))


def test_the_daemon_job_folds_the_deltas(engine: Engine) -> None:
    rnd = random.Random(9)
    with engine.begin() as conn:
        conn.execute(insert(Token), [row(i, rnd) for i in range(50)])
    component = FleetCountsComponent(engine)
    assert [(j.name, j.interval) for j in component.jobs()] == [("fleet-counts", COMPACT_EVERY)]
    component.compact()
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FleetDelta)) == 0
        assert conn.scalar(select(FleetCount.tokens).where(FleetCount.kind == "total")) == 50
    assert_equal(engine, [NOW])


def test_the_daemon_job_vacuums_after_many_deltas_or_a_while_not_after_every_fold(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A VACUUM after every fold read more rows than the folds (a pg_class scan, rebuilt caches): the job
    vacuums once VACUUM_AFTER deltas were folded since the last one, or VACUUM_EVERY seconds after that."""
    from monitor.metrics import fleet

    vacuums: list[float] = []
    clock = [0.0]
    monkeypatch.setattr(fleet, "_vacuum", lambda e: vacuums.append(clock[0]))
    monkeypatch.setattr(fleet, "VACUUM_AFTER", 10**9)
    component = FleetCountsComponent(engine, clock=lambda: clock[0])
    rnd, ids = random.Random(3), iter(range(1000))

    def fold_after_inserting(n: int, at: float) -> None:
        clock[0] = at
        with engine.begin() as conn:
            conn.execute(insert(Token), [row(next(ids), rnd) for _ in range(n)])
        component.compact()

    fold_after_inserting(10, 1.0)
    fold_after_inserting(10, VACUUM_EVERY)
    assert vacuums == []  # a few deltas folded, the first of them less than VACUUM_EVERY ago: not yet
    fold_after_inserting(10, VACUUM_EVERY + 1)
    assert vacuums == [VACUUM_EVERY + 1]
    clock[0] = VACUUM_EVERY * 3
    component.compact()
    assert vacuums == [VACUUM_EVERY + 1]  # nothing folded since: no dead rows to clear, however long it was
    monkeypatch.setattr(fleet, "VACUUM_AFTER", 10)
    fold_after_inserting(1, VACUUM_EVERY * 3 + 1)  # at most 4 deltas (total, source, two horizons)
    assert vacuums == [VACUUM_EVERY + 1]  # the first fold after a quiet while does not vacuum at once
    fold_after_inserting(10, VACUUM_EVERY * 3 + 2)  # at least 10 (each adds to the total)
    assert vacuums == [VACUUM_EVERY + 1, VACUUM_EVERY * 3 + 2]  # VACUUM_AFTER or more folded: at once
    assert_equal(engine, [NOW])
    assert VACUUM_AFTER >= 1000 and VACUUM_EVERY >= 60  # the defaults: rare beside a fold every few seconds


def test_a_fold_from_where_the_last_ended_also_takes_a_delta_committed_late_below_it(engine: Engine) -> None:
    """The daemon folds from where its previous fold ended (the low end of the id index holds the deleted
    deltas' entries until a vacuum); a delta whose id was drawn earlier but committed after that fold is
    folded all the same."""
    from monitor.metrics.fleet import fold

    rnd = random.Random(5)
    with engine.begin() as conn:
        conn.execute(insert(Token), [row(i, rnd) for i in range(20)])
    folded, start = fold(engine)
    assert folded > 0 and start is not None
    assert fold(engine, start) == (0, start)  # nothing new: nothing read but the newest id
    late = {"kind": "total", "name": "", "bucket": 0.0, "delta": 0}
    with engine.begin() as conn:  # a late commit below `start` (a +1/-1 pair: the counts stay true)
        conn.execute(insert(FleetDelta), [{**late, "id": start - 1, "delta": 1}])
    with engine.begin() as conn:
        conn.execute(insert(FleetDelta), [{**late, "id": start - 2, "delta": -1}])
        conn.execute(insert(Token), [row(i, rnd) for i in range(20, 25)])
    folded, after = fold(engine, start)
    assert folded >= 2 + 5 and after is not None and after > start
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FleetDelta)) == 0
        assert conn.scalar(select(FleetCount.tokens).where(FleetCount.kind == "total")) == 25
    assert_equal(engine, [NOW])


def test_the_windows_and_horizons_are_the_exposed_ones() -> None:
    """threads_monitor_tokens_expiring labels its values with monitor.metrics.tokens' WINDOWS and HORIZONS."""
    from monitor.metrics import tokens

    assert [seconds for _, seconds in tokens.WINDOWS] == list(WINDOWS)
    assert [name for name, _ in tokens.HORIZONS] == [name for name, _ in HORIZONS]
