"""The rendered token exposition, kept until the stored state (or the clock) changes it.

A scrape of an unchanged registry costs one small indexed read (`marker_query`): the newest token id,
check, registry edit, snapshot and alert change, the apps, and the outbox's pending count. When that tuple
differs from the one the cached body was rendered under, or `now` passed the next moment at which a token's
state, an expiry window or a mute would change by time alone (`boundary_query`), or the body is older
than `MAX_AGE` (a deleted token leaves no newer value to notice), the token collector renders again.
Event counters, the build info and /healthz are never cached: they are rendered on every scrape and appended
to the cached part.

Compressed (`render(gzipped=True)`, for a scraper that accepts gzip, as Prometheus always does), the body is
two gzip members: the cached part's, compressed once per render of it, then the live part's. A gzip stream
may hold several members (RFC 1952 section 2.2), and every client reads them as one body (Go's gzip.Reader,
which Prometheus uses, Python's gzip, urllib3, curl).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector
from sqlalchemy import Connection, ScalarSelect, Select, func, select

from monitor.db.models import Alert, App, Deletion, Notification, Snapshot, Token
from monitor.metrics.collector import TokenCollector
from monitor.metrics.inputs import MetricsInputs
from monitor.metrics.text import per_token_text
from monitor.metrics.tokens import (
    HORIZONS,
    PER_TOKEN_MODES,
    WINDOWS,
    duration_family,
    fleet_families,
)
from monitor.state import Horizons

__all__ = ["GZIP_LEVEL", "MAX_AGE", "ExpositionCache", "boundary_query", "marker_query"]

GZIP_LEVEL = 6  # zlib's default; level 9 costs 2.8x the CPU for 7 % fewer bytes (bench/scrape_gzip.py)
MAX_AGE = 60.0  # seconds a cached body may serve unchanged scrapes (bounds how long a deletion goes unseen)
OPENMETRICS_EOF = b"# EOF\n"


def _newest(column: object) -> ScalarSelect[object]:
    return select(func.max(column)).scalar_subquery()  # type: ignore[call-overload]


def marker_query() -> Select:
    """One row that changes whenever a write changes what the token collector would render.

    Every term is read through an index (or from the small apps table): O(apps), not O(tokens).
    """
    apps = select(
        func.count(), func.max(App.id), func.max(App.inspector_checked_at), func.max(App.muted_until)
    ).subquery()
    pending = select(func.count()).select_from(Notification).where(Notification.status == "pending")
    return select(
        _newest(Token.id),
        _newest(Token.last_check_at),
        _newest(Token.updated_at),
        _newest(Snapshot.id),
        _newest(Alert.updated_at),
        _newest(Deletion.id),  # a data deletion request removed tokens: their series go at once
        *apps.c,
        pending.scalar_subquery(),
    )


def _thresholds(h: Horizons) -> dict[str, set[float]]:
    """Offsets before each horizon at which a token changes state or enters an expiry window."""
    windows = {seconds for _, seconds in WINDOWS}
    return {
        "expires_at": windows | {0.0, h.expiry_warning, h.expiry_critical},
        "data_access": windows | {0.0, h.data_access_warning, h.data_access_critical},
    }


def boundary_query(h: Horizons, now: float) -> Select:
    """One row: for each (horizon, offset), the earliest horizon still ahead of `now + offset`.

    `now` may advance up to min(horizon - offset) before anything rendered changes by time alone.
    """
    offsets = _thresholds(h)
    terms = [
        (select(func.min(column)).where(column > now + offset).scalar_subquery() - offset)
        for key, column in HORIZONS
        for offset in sorted(offsets[key])
    ]
    return select(*terms)


def mute_ends_query(now: float) -> Select:
    """One row: the next end of a token's and of an app's mute (threads_token_muted changes then)."""
    token = select(func.min(Token.muted_until)).where(Token.muted_until > now).scalar_subquery()
    app = select(func.min(App.muted_until)).where(App.muted_until > now).scalar_subquery()
    return select(token, app)


def valid_until(conn: Connection, h: Horizons, now: float) -> float:
    """When the rendered state next changes with time alone (at most MAX_AGE from now)."""
    ahead = [float(v) for v in conn.execute(boundary_query(h, now)).one() if v is not None]
    ahead += [float(v) for v in conn.execute(mute_ends_query(now)).one() if v is not None]
    return min([now + MAX_AGE, *ahead])


@dataclass(frozen=True)
class Rendered:
    """One cached body and what it was rendered under."""

    key: Hashable
    body: bytes
    until: float


class ExpositionCache:
    """Renders the token collector's part of a scrape, again only when the marker or the clock says so."""

    def __init__(self, inputs: MetricsInputs, live: CollectorRegistry) -> None:
        self.inputs, self.live = inputs, live
        self.collector = TokenCollector(inputs)
        self.renders = 0  # how many times the token part was rendered (tests and benchmarks read it)
        self._lock = threading.Lock()
        self._cached: dict[bool, Rendered] = {}
        self._gzipped: dict[bool, tuple[bytes, bytes]] = {}  # token part -> its gzip member

    def render(self, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        """The whole exposition: the token part (cached) followed by the live event counters; gzipped, as
        two gzip members (the first cached with the token part)."""
        generate: Callable[[CollectorRegistry], bytes] = (
            generate_openmetrics if openmetrics else generate_latest
        )
        body = self.token_part(openmetrics)
        if not gzipped:
            return body + generate(self.live)
        return self._compressed(openmetrics, body) + compress(generate(self.live))

    def _compressed(self, openmetrics: bool, body: bytes) -> bytes:
        """`body`'s gzip member, compressed again only when the token part was rendered again."""
        with self._lock:
            done = self._gzipped.get(openmetrics)
        if done is not None and done[0] is body:
            return done[1]
        member = compress(body)
        with self._lock:
            self._gzipped[openmetrics] = (body, member)
        return member

    def token_part(self, openmetrics: bool) -> bytes:
        """The token collector's exposition, from the cache when nothing it shows can have changed.

        The marker is read before the state it stands for: a write committed in between makes the next
        scrape's marker differ, so a body is never kept for a state older than its marker.
        """
        now = self.inputs.now()
        with self.inputs.engine.connect() as conn:
            key = (self._settings(), tuple(conn.execute(marker_query()).one()))
            with self._lock:
                cached = self._cached.get(openmetrics)
            if cached is not None and cached.key == key and now < cached.until:
                return cached.body
            until = valid_until(conn, self.inputs.horizons, now)
        body = self._render(openmetrics)
        with self._lock:
            self._cached[openmetrics] = Rendered(key, body, until)
            self.renders += 1
        return body

    def _settings(self) -> Hashable:
        """The configuration the render depends on (a SIGHUP reload may change it)."""
        cfg = self.inputs.settings.metrics
        mode = cfg.per_token if cfg.per_token in PER_TOKEN_MODES else "all"
        return (mode, cfg.scopes, cfg.labels, self.inputs.horizons)

    def _render(self, openmetrics: bool) -> bytes:
        """The collector's families: per-token lines written directly, the few fleet series by
        prometheus_client (the same text `generate_latest` writes for them)."""
        stored, seconds = self.collector.read()
        scopes = self.inputs.settings.metrics.scopes
        per_token = per_token_text(stored.rows, scopes=scopes, openmetrics=openmetrics) if stored.rows else ""
        fleet = CollectorRegistry()
        fleet.register(Families([*fleet_families(stored), duration_family(seconds)]))
        if not openmetrics:
            return per_token.encode() + generate_latest(fleet)
        body = generate_openmetrics(fleet)
        return per_token.encode() + body.removesuffix(OPENMETRICS_EOF)


def compress(data: bytes) -> bytes:
    """One gzip member of `data` (mtime 0: equal input, equal bytes)."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


class Families(Collector):
    """Ready-made families as a collector."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)
