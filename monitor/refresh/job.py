"""The refresh job: refresh opted-in long-lived tokens before they expire, and never lose a refreshed string.

Each tick first stores strings refreshed earlier whose write failed (database outage), and refreshes nothing
else until they are stored. It then claims eligible tokens (monitor.refresh.rules.eligible, as SQL) with the
same lease columns the sweep uses, under FOR UPDATE SKIP LOCKED, so with several daemons on one database a
token is refreshed by exactly one of them. A new string is spooled before it is written, written guarded by
the old fingerprint, and inspected at once so `expires_at` and the expiry alert follow.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from monitor.check.store import release
from monitor.crypto import Vault, fingerprint
from monitor.db.session import transaction
from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.graph.results import RefreshResult
from monitor.jobs import Job
from monitor.redact import error_line
from monitor.refresh.renewal import renew
from monitor.refresh.rules import Outcome, classify, eligible, error_text
from monitor.refresh.settings import RefreshSettings
from monitor.refresh.store import (
    Candidate,
    Refreshed,
    Spool,
    claim_eligible,
    record_unmoved,
    store_failure,
    store_refreshed,
)

log = logging.getLogger("monitor.refresh")

CLAIM_BATCH = 50
MAX_INTERVAL = 60.0


class RefreshCounter(Protocol):
    """Where refresh outcomes are counted (monitor.metrics.Events)."""

    def refresh(self, outcome: str) -> None: ...


class Refresher:
    """The refresh component: `tick()` is the job; `pending` maps token id -> string not yet stored."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        vault: Vault,
        client: GraphClient,
        settings: RefreshSettings,
        owner: str,
        check_now: Callable[[list[int]], Any] | None = None,
        events: RefreshCounter | None = None,
        budget: CallBudget | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        spool: Spool | None = None,
    ) -> None:
        self.sessions, self.vault, self.client, self.settings = sessions, vault, client, settings
        # Not the sweep's owner: a sweep drops all of its owner's leases when it ends.
        self.owner = owner[:62] + ":r"
        self.check_now, self.events, self.budget = check_now, events, budget
        self.clock, self.rand = clock, rand
        self.calls = 1 + settings.retries
        self.spool = spool or Spool(None, vault)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="refresh")
        self.pending: dict[int, Refreshed] = {r.id: r for r in self.spool.load()}
        if self.pending:
            log.warning(
                "%d refreshed token string(s) from an earlier run are waiting to be stored", len(self.pending)
            )

    def jobs(self) -> list[Job]:
        return [Job("refresh", self.tick, min(self.settings.sweep_interval, MAX_INTERVAL))]

    def reload(self, settings: RefreshSettings) -> None:
        """New [refresh] rules and lease apply from the next claim (the worker pool keeps its size)."""
        self.settings = settings

    def stop(self) -> None:
        """Stop claiming: a running tick ends after its current batch (the daemon stops quickly)."""
        self.stopping.set()

    def close(self) -> None:
        self.stopping.set()
        self._pool.shutdown(wait=True)
        try:
            with transaction(self.sessions) as s:
                release(s, self.owner)
        except Exception as exc:  # noqa: BLE001 - leases expire by themselves
            log.warning("could not release refresh leases on shutdown: %s", error_line(exc))
        if self.pending:
            where = "spooled in " + str(self.spool.directory) if self.spool.directory else "LOST (no spool)"
            log.error("stopping with %d refreshed token string(s) not stored: %s", len(self.pending), where)

    # --- the job -----------------------------------------------------------------------------------

    def tick(self) -> int:
        """Store pending strings, then refresh every eligible token; returns how many were refreshed."""
        self.flush()
        if self.pending:
            return 0  # the database still fails: refresh nothing more until what we hold is stored
        done = 0
        while self.settings.refresh.enabled and not self.stopping.is_set():
            claimed_at, lease = self.clock(), self.settings.lease
            with transaction(self.sessions) as s:
                batch = claim_eligible(s, self.owner, self.settings.refresh, claimed_at, lease, CLAIM_BATCH)
            # Stop working on a batch well before its leases run out, or another daemon could claim it.
            stored, attempted, go_on = self._refresh_batch(batch, claimed_at + lease / 2)
            done += len(stored)
            self._inspect(stored)
            self._verify({c.id: c.facts.expires_at for c in batch if c.id in stored})
            if not (attempted and go_on):
                break
        return done

    def flush(self) -> None:
        """Try to store every pending string (oldest first); keep the ones the database still refuses."""
        for r in sorted(self.pending.values(), key=lambda p: p.refreshed_at):
            if not self._store(r):
                return
            self._inspect([r.id])

    def _refresh_batch(self, batch: Sequence[Candidate], deadline: float) -> tuple[list[int], int, bool]:
        """Refresh a claimed batch on the worker pool: (ids stored, tokens attempted, whether to go on)."""
        todo = [c for c in batch if eligible(c.facts, self.settings.refresh, self.clock())]
        halt = threading.Event()  # the budget ran out or the database fails: start no further refresh
        with self._releasing(batch) as left:
            statuses = list(self._pool.map(lambda c: self._one(c, deadline, halt), todo))
            left.difference_update(
                c.id for c, status in zip(todo, statuses, strict=True) if status != "skipped"
            )
        stored = [c.id for c, status in zip(todo, statuses, strict=True) if status == "stored"]
        attempted = sum(status != "skipped" for status in statuses)
        return stored, attempted, not halt.is_set()

    def _one(self, c: Candidate, deadline: float, halt: threading.Event) -> str:
        """Refresh one claimed token: "stored", "failed", "pending" (kept in memory), "error" or "skipped"."""
        # Past the deadline the batch's leases are about to run out: another daemon may claim the rest.
        if halt.is_set() or self.stopping.is_set() or self.clock() > deadline:
            return "skipped"
        if not self._acquire():
            halt.set()
            return "skipped"
        result = self._call(c)
        outcome = classify(result)
        if outcome is not Outcome.REFRESHED:
            try:
                self._failed(c, result, outcome)
            except Exception as exc:  # noqa: BLE001 - not recorded: retried once the lease expires
                log.error("recording the failed refresh of token %s failed: %s", c.name, error_line(exc))
                halt.set()
                return "error"
            return "failed"
        r = Refreshed(c.id, c.name, c.fingerprint, result.access_token or "", self.clock(), result.expires_in,
                      self._writes_back(c.source), result.expiry_source)  # fmt: skip
        with self._lock:
            self.pending[r.id] = r
        self.spool.put(r)
        if not self._store(r):
            halt.set()
            return "pending"
        return "stored"

    @contextmanager
    def _releasing(self, batch: Sequence[Candidate]) -> Iterator[set[int]]:
        """Release the leases of claimed tokens that were not worked on (budget, stop, an exception)."""
        left = {c.id for c in batch}
        try:
            yield left
        finally:
            if left:
                try:
                    with transaction(self.sessions) as s:
                        release(s, self.owner, list(left))
                except Exception as exc:  # noqa: BLE001 - the leases expire by themselves
                    log.warning("could not release %d refresh lease(s): %s", len(left), error_line(exc))

    def _acquire(self) -> bool:
        if self.budget is None or self.budget.try_acquire(self.calls):
            return True
        log.warning("max_calls_per_hour reached: token refreshes wait for the budget")
        return False

    def _call(self, c: Candidate) -> RefreshResult:
        result = renew(self.client, self.vault, c)
        if self.budget is not None:
            self.budget.refund(max(0, self.calls - result.attempts))
        return result

    def _failed(self, c: Candidate, result: RefreshResult, outcome: Outcome) -> None:
        with transaction(self.sessions) as s:
            store_failure(s, self.owner, c, result, outcome, self.clock(), self.rand())
        log.warning("refresh of token %s failed (%s, %s)", c.name, outcome.value, error_text(result))
        self._count("failed")

    def _store(self, r: Refreshed) -> bool:
        """Write one refreshed string; False (string kept in `pending`) when the database fails."""
        try:
            with transaction(self.sessions) as s:
                status = store_refreshed(s, self.vault, self.owner, r, self.clock())
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the string, retry next tick
            log.error(
                "storing the refreshed string of token %s failed (%s): kept, retried every tick",
                r.name,
                error_line(exc),
            )
            return False
        with self._lock:
            del self.pending[r.id]
        self.spool.remove(r)
        if status == "superseded":
            log.warning(
                "token %s was removed or replaced while its refresh was stored: refreshed string discarded",
                r.name,
            )
            return True
        if status == "stored":
            log.info("refreshed token %s (new fingerprint %s)", r.name, fingerprint(r.token))
            self._count("refreshed")
        return True

    def _verify(self, before: dict[int, float | None]) -> None:
        """A refresh the API does not reflect (same expiry after the inspection) is a failure, not a reason
        to refresh again at once: TokenRefreshFailed fires, and min_age passes before the next try."""
        if not before:
            return
        try:
            with transaction(self.sessions) as s:
                unmoved = record_unmoved(s, before, self.clock())
        except Exception as exc:  # noqa: BLE001 - min_age still holds the next refresh back
            log.warning("checking %d refreshed token(s) failed: %s", len(before), error_line(exc))
            return
        for name in unmoved:
            log.warning(
                "refresh of token %s did not move its expiry: not refreshed again before min_age", name
            )
            self._count("failed")

    def _inspect(self, ids: list[int]) -> None:
        if not ids or self.check_now is None:
            return
        try:
            self.check_now(ids)
        except Exception as exc:  # noqa: BLE001 - next_check_at is now: the next sweep inspects them
            log.warning(
                "inspecting %d refreshed token(s) failed (%s): the next sweep does", len(ids), error_line(exc)
            )

    def _writes_back(self, source: str | None) -> bool:
        return source is not None and source in self.settings.writeback_sources

    def _count(self, outcome: str) -> None:
        if self.events is not None:
            self.events.refresh(outcome)
