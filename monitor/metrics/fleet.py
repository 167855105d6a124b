"""Fleet counts without counting the fleet: what a changed /metrics scrape reports about every token.

The database keeps them (migration 0012): triggers on `tokens` append to `fleet_deltas` what each write
changes (the total, the tokens per source, the valid tokens per ten minutes of each horizon), and `compact`
folds those deltas into `fleet_counts` every few seconds. `read_fleet` sums both tables (a few thousand rows
at most, whatever the fleet size) and counts exactly, through the (is_valid, horizon) index, the tokens of
the one ten-minute bucket each expiry window ends in. The answers equal the full counts (COUNT(*), the source
GROUP BY, the expiry windows' range counts: tests/metrics/test_fleet_counts.py holds them equal).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from monitor.db.fleet_tables import FleetCount, FleetDelta
from monitor.db.models import Token
from monitor.jobs import Job

__all__ = ["COMPACT_EVERY", "Fleet", "FleetCountsComponent", "bucket_of", "compact", "fold", "read_fleet"]

log = logging.getLogger("monitor.metrics")

BUCKET = 600.0  # seconds per bucket: the edge of a window reads one bucket's expiries
WINDOWS = (86400.0, 2 * 86400.0, 3 * 86400.0, 7 * 86400.0, 14 * 86400.0, 30 * 86400.0)
HORIZONS = (("expires_at", Token.expires_at), ("data_access", Token.data_access_expires_at))
COMPACT_EVERY = 10.0  # seconds between two foldings of the deltas (each daemon; they never conflict)
CHUNK = 20_000  # deltas folded per transaction: short locks on SQLite, bounded memory
VACUUM_AFTER = 20_000  # deltas folded before the daemon's job vacuums them (PostgreSQL)
VACUUM_EVERY = 600.0  # seconds: or this long after the first fold it has not vacuumed yet


@dataclass(frozen=True)
class Fleet:
    """Every token, the tokens per source (those with any), and the valid tokens per expiry window
    (HORIZONS x WINDOWS, cumulative: a horizon already passed counts in every window)."""

    total: int
    sources: list[tuple[str, int]]
    expiring: list[int]


def bucket_of(x: float) -> float:
    """The bucket the triggers file a horizon under: FLOOR(x / 600) in IEEE doubles."""
    return float(math.floor(x / BUCKET))


def bucket_start(b: float) -> float:
    """The smallest double whose bucket is at least `b`: the edge range starts there."""
    x = b * BUCKET
    while bucket_of(x) < b:
        x = math.nextafter(x, math.inf)
    while bucket_of(lower := math.nextafter(x, -math.inf)) >= b:
        x = lower
    return x


def _both(kinds: Sequence[str], below: Any = None) -> Select:
    """(kind, name, bucket, n) of the folded counts and the deltas not yet folded, of `kinds` (and with
    `below`, of the buckets under it: a range of fleet_counts' primary key)."""
    folded = select(FleetCount.kind, FleetCount.name, FleetCount.bucket, FleetCount.tokens.label("n"))
    deltas = select(FleetDelta.kind, FleetDelta.name, FleetDelta.bucket, FleetDelta.delta.label("n"))
    folded = folded.where(FleetCount.kind.in_(list(kinds)))
    deltas = deltas.where(FleetDelta.kind.in_(list(kinds)))
    if below is not None:
        folded = folded.where(FleetCount.name == "", FleetCount.bucket < below)
        deltas = deltas.where(FleetDelta.bucket < below)
    return select(union_all(folded, deltas).subquery())


@cache
def totals_query() -> Select:
    """(kind, name, n): the total and each source's tokens (sources that have none left out)."""
    rows = _both(["total", "source"]).subquery()
    n = func.sum(rows.c.n)
    return select(rows.c.kind, rows.c.name, n).group_by(rows.c.kind, rows.c.name).having(n != 0)


def _edge(column: Any, w: int) -> ScalarSelect[int]:
    """Valid tokens in the bucket window `w` ends in, up to its end: ten minutes' expiries of the index."""
    where = and_(Token.is_valid.is_(True), column >= bindparam(f"lo{w}"), column <= bindparam(f"end{w}"))
    return select(func.count()).select_from(Token).where(where).scalar_subquery()


@cache
def windows_query() -> Select:
    """One row: for each horizon and window, the whole buckets before the window's end, then each edge.

    Built once; `window_params(now)` binds it (building it on every scrape cost more than running it).
    """
    rows = _both([kind for kind, _ in HORIZONS], bindparam(f"b{len(WINDOWS) - 1}")).subquery()
    whole = [
        func.coalesce(
            func.sum(
                case((and_(rows.c.kind == kind, rows.c.bucket < bindparam(f"b{w}")), rows.c.n), else_=0)
            ),
            0,
        )
        for kind, _ in HORIZONS
        for w in range(len(WINDOWS))
    ]
    summed = select(*whole).subquery()
    edges = [_edge(column, w) for _, column in HORIZONS for w in range(len(WINDOWS))]
    return select(*summed.c, *edges)


def window_params(now: float) -> dict[str, float]:
    """Each window's end, the bucket it ends in, and where that bucket starts."""
    params: dict[str, float] = {}
    for w, seconds in enumerate(WINDOWS):
        end = now + seconds
        params |= {f"end{w}": end, f"b{w}": bucket_of(end), f"lo{w}": bucket_start(bucket_of(end))}
    return params


def read_fleet(conn: Connection, now: float) -> Fleet:
    """The fleet counts at `now`, in two statements reading at most ten minutes' expiries per window."""
    total, sources = 0, []
    for kind, name, n in conn.execute(totals_query()):
        if kind == "total":
            total = int(n)
        else:
            sources.append((str(name), int(n)))
    row = [int(v) for v in conn.execute(windows_query(), window_params(now)).one()]
    half = len(row) // 2
    return Fleet(total, sorted(sources), [w + e for w, e in zip(row[:half], row[half:], strict=True)])


# --- folding the deltas -----------------------------------------------------------------------------------


def compact(engine: Engine) -> int:
    """Fold the deltas stored so far into fleet_counts and, on PostgreSQL, clear their dead rows when
    anything was folded; the number folded. (The daemon's job folds with `fold` and vacuums less often.)"""
    folded, _ = fold(engine)
    if folded:
        _vacuum(engine)
    return folded


def fold(engine: Engine, start: int | None = None) -> tuple[int, int | None]:
    """Fold the deltas stored so far into fleet_counts: (the number folded, the `start` of the next fold).

    `start` (what the previous fold returned) says the deltas below it were folded: the fold then reads
    only the high end of the id index, not the low end, where the entries of the deltas it deleted wait
    for a vacuum. A delta below it committed late is folded all the same: each chunk takes every delta
    below its end. Each chunk is one transaction that deletes its deltas (DELETE ... RETURNING: exactly
    the rows it removed, so a delta committed meanwhile stays for the next time) and adds their sums to the
    counts, in key order. Two daemons folding at once: the second skips the rows the first deleted; if both
    create the same count row, the second's transaction fails whole and its deltas stay. MariaDB folds
    under READ COMMITTED, so the fold takes no gap lock that a writer's next delta could wait on.
    """
    lowest: Any
    highest: Any
    with engine.connect() as conn:
        if start is None:
            lowest, highest = conn.execute(select(func.min(FleetDelta.id), func.max(FleetDelta.id))).one()
        else:
            lowest, highest = start, _highest(conn)
    if highest is None:
        return 0, start
    if start is not None and highest < start and engine.dialect.name == "postgresql":
        return 0, start  # no id handed out since (one committed late below `start` waits for the next)
    lo, hi = min(int(lowest), int(highest)), int(highest)
    options = {"isolation_level": "READ COMMITTED"} if engine.dialect.name in ("mysql", "mariadb") else {}
    folded = 0
    for first in range(lo, hi + 1, CHUNK):
        with engine.connect().execution_options(**options) as conn, conn.begin():
            folded += _fold(conn, min(first + CHUNK, hi + 1))
    return folded, hi + 1


def _highest(conn: Connection) -> int | None:
    """The highest delta id handed out so far (None: none). On PostgreSQL, the id sequence's last value: one
    row, where max(id) walked down the index through the entries of every delta folded since the last
    vacuum before it found a live one (once per fold: about one index entry read per delta). A value of a
    transaction still open is folded by a later fold (each takes every delta below its end)."""
    if conn.dialect.name != "postgresql":
        return conn.execute(select(func.max(FleetDelta.id))).scalar()
    last, called = conn.execute(text("SELECT last_value, is_called FROM fleet_deltas_id_seq")).one()
    return int(last) if called else None


def _fold(conn: Connection, stop: int) -> int:
    # Every delta below `stop`: the earlier chunks (or a concurrent fold) took those below this one's start
    # already, and a bound on one side only lets the planner read a table it empties anyway in one pass.
    gone = conn.execute(
        delete(FleetDelta)
        .where(FleetDelta.id < stop)
        .returning(FleetDelta.kind, FleetDelta.name, FleetDelta.bucket, FleetDelta.delta)
    ).all()
    sums: Counter[tuple[str, str, float]] = Counter()
    for kind, name, bucket, delta in gone:
        sums[(kind, name, float(bucket))] += delta
    changes = sorted((key, n) for key, n in sums.items() if n)
    if not changes:
        return len(gone)
    stored = {
        (k, n, float(b))
        for k, n, b in conn.execute(select(FleetCount.kind, FleetCount.name, FleetCount.bucket))
    }
    add = [{"k": k, "n": name, "b": b, "d": n} for (k, name, b), n in changes if (k, name, b) in stored]
    new = [
        {"kind": k, "name": name, "bucket": b, "tokens": n}
        for (k, name, b), n in changes
        if (k, name, b) not in stored
    ]
    if add:  # relative: a fold running beside this one adds its own sums, never overwrites these
        key = (
            FleetCount.kind == bindparam("k"),
            FleetCount.name == bindparam("n"),
            FleetCount.bucket == bindparam("b"),
        )
        conn.execute(update(FleetCount).where(*key).values(tokens=FleetCount.tokens + bindparam("d")), add)
    if new:
        conn.execute(insert(FleetCount), new)
    conn.execute(delete(FleetCount).where(FleetCount.tokens == 0))
    return len(gone)


def _vacuum(engine: Engine) -> None:
    """PostgreSQL: clear the folded deltas' and the replaced counts' dead rows now, so that a scrape never
    walks dead rows to read the few live ones (autovacuum would, later; a server without it never would).
    The other backends have no dead rows to clear."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (SKIP_LOCKED) fleet_deltas, fleet_counts"))
    except DBAPIError as exc:  # not the table's owner: autovacuum's job then
        log.debug("fleet counts: VACUUM fleet_deltas refused: %s", type(exc.orig).__name__)


class FleetCountsComponent:
    """The daemon's `fleet-counts` job: folds the deltas every COMPACT_EVERY seconds, and vacuums them once
    VACUUM_AFTER were folded since the last vacuum, or VACUUM_EVERY seconds after the first fold it left.

    A VACUUM is not free: PostgreSQL ends each one with a scan of pg_class (the database's oldest xid) and
    its new statistics make every connection rebuild what it cached of the two tables. After every small
    fold that cost more rows read than the fold itself; the dead rows of a few thousand deltas cost a
    scrape nothing measurable (bench/RESULTS.md, issue 30), and reading pages prunes them as it goes.
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.clock = engine, clock
        self.next_start: int | None = None  # every delta below it is folded (None: not known yet)
        self.unvacuumed = 0  # deltas folded since the last vacuum
        self.dirty_since = 0.0  # when the first of them was folded

    def jobs(self) -> list[Job]:
        return [Job("fleet-counts", self.compact, COMPACT_EVERY, first_delay=1.0)]

    def compact(self) -> None:
        try:
            folded, self.next_start = fold(self.engine, self.next_start)
        except IntegrityError:  # another daemon created the same count row first: this fold rolled back
            log.info("fleet counts: another daemon folded at the same time; folding again next time")
            return
        if folded:
            log.debug("fleet counts: folded %d delta(s)", folded)
        now = self.clock()
        if folded and not self.unvacuumed:
            self.dirty_since = now
        self.unvacuumed += folded
        if self.unvacuumed >= VACUUM_AFTER or (self.unvacuumed and now - self.dirty_since >= VACUUM_EVERY):
            _vacuum(self.engine)
            self.unvacuumed = 0

    def reload(self, settings: object) -> None:
        """Nothing configurable."""

    def stop(self) -> None:
        """A fold is a few short transactions: nothing to stop."""

    def close(self) -> None:
        """Nothing held between folds."""
