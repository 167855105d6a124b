"""Reading the token registry from the application's own database (SPEC section 9).

`sync_source` reads one `[[sources]]` query, validates every row, then applies the difference to the
registry in one transaction: new tokens, changed strings and labels, retirements. A failing or malformed
source changes nothing and records `sources.last_error` (the SourceFailing alert reads it).
`SourcesComponent` runs the syncs (one daemon at a time per source, through the Source row's lease) and
the write-back of refreshed strings (writeback.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config.load import Config, SourceConfig
from monitor.crypto import Vault
from monitor.db import leases
from monitor.db.models import SOURCES, Source
from monitor.db.session import transaction
from monitor.jobs import Job
from monitor.sources.apply import SyncReport, apply_sync
from monitor.sources.engines import SourceEngines, SourceError, open_engine
from monitor.sources.read import read_rows
from monitor.sources.writeback import WritebackReport, write_back_pending

__all__ = ["SourceEngines", "SourceError", "SourcesComponent", "SourcesSettings", "SyncReport",
           "WritebackReport", "claim", "release", "sync_source", "write_back_pending"]  # fmt: skip

log = logging.getLogger("monitor.sources")

LEASE = 600.0  # longer than a sync can take (statement timeout + writes); a crashed daemon's lease expires
TICK = 10.0  # how often the daemon looks for due sources (sync_interval is at least 10 s)


class SyncCounter(Protocol):
    """Where sync outcomes are counted (monitor.metrics.Events)."""

    def source_sync(self, source: str, outcome: str) -> None: ...


def sync_source(
    sessions: sessionmaker[Session],
    vault: Vault,
    source: SourceConfig,
    now: float,
    *,
    engines: SourceEngines | None = None,
    events: SyncCounter | None = None,
) -> SyncReport:
    """Sync one source; raises SourceError (after recording it in `sources.last_error`) when it fails."""
    started = time.monotonic()
    try:
        engine = engines.get(source) if engines is not None else open_engine(source)
        try:
            rows = read_rows(engine, source)
        finally:
            if engines is None:
                engine.dispose()
        with transaction(sessions) as s:
            report = apply_sync(s, vault, source.name, rows, now)
            _record(s, source, now, error=None, tokens=len(rows))
    except SourceError as exc:
        with transaction(sessions) as s:
            _record(s, source, now, error=exc.message)
        _count(events, source.name, "failure")
        log.warning("source %s: sync failed, nothing changed: %s", source.name, exc.message)
        raise
    except Exception:
        _count(events, source.name, "failure")
        raise
    _count(events, source.name, "success")
    log.info(
        "source %s: %d added, %d changed, %d retired, %d unchanged (%.2f s)",
        source.name,
        len(report.added),
        len(report.changed),
        len(report.retired),
        report.unchanged,
        time.monotonic() - started,
    )
    return report


def _count(events: SyncCounter | None, source: str, outcome: str) -> None:
    if events is not None:
        events.source_sync(source, outcome)


def _record(
    s: Session, source: SourceConfig, now: float, *, error: str | None, tokens: int | None = None
) -> None:
    row = _source_row(s, source.name)
    row.last_sync_at = now
    row.next_sync_at = now + source.sync_interval
    row.last_error = error
    if error is None:
        row.last_success_at = now
    if tokens is not None:
        row.tokens = tokens


def _source_row(s: Session, name: str) -> Source:
    row = s.scalar(select(Source).where(Source.name == name))
    if row is None:
        row = Source(name=name, tokens=0)
        s.add(row)
        s.flush()
    return row


# --- one daemon at a time ------------------------------------------------------------------------------


def claim(
    sessions: sessionmaker[Session], source: SourceConfig, owner: str, now: float, *, force: bool = False
) -> bool:
    """Lease the source for one sync when it is due (or `force`) and nobody else holds it."""
    with transaction(sessions) as s:
        try:
            with s.begin_nested():
                _source_row(s, source.name)
        except IntegrityError:  # another daemon created the row at the same moment
            pass
        free = leases.free(SOURCES, now, owner)
        stmt = select(Source).where(Source.name == source.name, free).with_for_update(skip_locked=True)
        row = s.scalar(stmt)
        if row is None:
            return False
        if not force and row.last_sync_at is not None and row.last_sync_at + source.sync_interval > now:
            return False
        row.lease_owner, row.lease_expires_at = owner, now + LEASE
        return True


def release(sessions: sessionmaker[Session], name: str, owner: str) -> None:
    with transaction(sessions) as s:
        row_id = s.scalar(select(Source.id).where(Source.name == name))
        if row_id is not None:
            leases.release(s, SOURCES, owner, [row_id])


def claim_and_sync(
    sessions: sessionmaker[Session],
    vault: Vault,
    source: SourceConfig,
    owner: str,
    *,
    clock: Callable[[], float],
    force: bool,
    engines: SourceEngines | None = None,
    events: SyncCounter | None = None,
) -> SyncReport | None:
    """Sync when the lease is ours; None when the source is not due or another instance is syncing it."""
    if not claim(sessions, source, owner, clock(), force=force):
        return None
    try:
        return sync_source(sessions, vault, source, clock(), engines=engines, events=events)
    finally:
        release(sessions, source.name, owner)


# --- the daemon component ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcesSettings:
    """The [[sources]] entries, and the sweep interval (the write-back tick follows it)."""

    sources: tuple[SourceConfig, ...] = ()
    sweep_interval: float = 60.0

    @classmethod
    def of(cls, config: Config) -> SourcesSettings:
        return cls(sources=config.sources, sweep_interval=config.schedule.sweep_interval)


class SourcesComponent:
    """The daemon's sync and write-back jobs. Sources are looked up on every tick, so `reload` applies."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: Vault,
        settings: SourcesSettings,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        events: SyncCounter | None = None,
    ) -> None:
        self.sessions, self.vault, self.clock = sessions, vault, clock
        self.owner, self.events = owner, events
        self.settings = settings
        self.engines = SourceEngines()
        self.sources: dict[str, SourceConfig] = {}
        self._synced_once: set[str] = set()
        self.reload(settings)

    def jobs(self) -> list[Job]:
        interval = self.settings.sweep_interval
        return [Job("sources-sync", self.sync_due, TICK), Job("sources-writeback", self.write_back, interval)]

    def sync_due(self) -> None:
        self._forget_removed()
        for source in list(self.sources.values()):
            first = source.name not in self._synced_once  # the first run after start ignores the schedule
            self._synced_once.add(source.name)
            try:
                claim_and_sync(
                    self.sessions,
                    self.vault,
                    source,
                    self.owner,
                    clock=self.clock,
                    force=first,
                    engines=self.engines,
                    events=self.events,
                )
            except SourceError:
                continue  # logged and recorded in sources.last_error by sync_source: SourceFailing fires
            except Exception as exc:  # one source's trouble never stops the others
                log.error("source %s: sync failed: %s", source.name, type(exc).__name__)

    def _forget_removed(self) -> None:
        """A source removed from the config is not failing: clear its error so SourceFailing resolves
        instead of repeating forever (its tokens can then be removed with `tokens remove`)."""
        with transaction(self.sessions) as s:
            s.execute(
                update(Source)
                .where(Source.last_error.is_not(None), Source.name.not_in(list(self.sources) or [""]))
                .values(last_error=None)
            )

    def write_back(self) -> None:
        report = write_back_pending(
            self.sessions, self.vault, self.sources, self.engines, self.clock(), owner=self.owner
        )
        if report.failed:
            log.warning(
                "write-back: %d written, %d failed (retried on the next tick)", report.written, report.failed
            )

    def reload(self, settings: SourcesSettings) -> None:
        """Added, changed and removed sources apply from the next tick."""
        self.settings = settings
        self.sources = {s.name: s for s in settings.sources}
        self.engines.retain(self.sources)  # a changed URL gets a new engine on its next use

    def stop(self) -> None:
        """Nothing to stop claiming: each tick claims one source at a time under its own lease."""

    def close(self) -> None:
        self.engines.close()


def select_sources(config: Config, names: Iterable[str] | None) -> Sequence[SourceConfig]:
    """The configured sources, or the named ones; SourceError names an unknown one."""
    if not names:
        return config.sources
    known = {s.name: s for s in config.sources}
    missing = [n for n in names if n not in known]
    if missing:
        raise SourceError(missing[0], "no such source in the configuration ([[sources]])")
    return [known[n] for n in names]
