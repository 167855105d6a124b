"""The sweep: claim due tokens, inspect them with `concurrency` workers within the call budget, store results.

Claiming, inspecting and writing overlap: workers never wait for the database, and results are written in
batches, so a sweep of N tokens at latency L with C workers takes close to N x L / C.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from monitor.check import store, transactions
from monitor.check.apps import SweepApps
from monitor.check.arrivals import Arrivals
from monitor.check.asked import collect
from monitor.check.observe import Cadence
from monitor.check.outcome import CheckOutcome, CheckRun, SweepStats
from monitor.check.probe import Gate, opener
from monitor.check.progress import Tick
from monitor.check.settings import SweepSettings
from monitor.check.writeback import write_outcomes
from monitor.crypto import Vault
from monitor.graph.budget import CallBudget
from monitor.graph.client import GraphClient
from monitor.graph.results import CheckResult
from monitor.state import Horizons

log = logging.getLogger("monitor.sweep")
T = TypeVar("T")

Claim = Callable[[Session, str, float], list[store.Claimed]]  # (session, owner, now) -> the tokens leased


class Sweeper:
    """Inspects due tokens. One instance per daemon; `sweep()` is called by the scheduler."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        vault: Vault,
        client: GraphClient,
        cadence: Cadence,
        owner: str,
        concurrency: int = 8,
        lease: float = 300.0,
        budget: CallBudget | None = None,
        retries: int = 2,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_check: Callable[[str, float], None] | None = None,
        on_progress: Callable[[], None] | None = None,
        write_batch: int = 200,
        horizons: Horizons | None = None,
    ) -> None:
        self.sessions, self.vault, self.client, self.cadence = sessions, vault, client, cadence
        self.owner, self.concurrency, self.lease, self.budget = owner, concurrency, lease, budget
        self.calls_per_check, self.clock, self.rand = 1 + retries, clock, rand
        self.on_check = on_check or (lambda result, duration: None)
        self.on_progress = on_progress or (lambda: None)
        self.write_batch, self.horizons = write_batch, horizons  # horizons: see SweepSettings
        self.claim_size = max(256, concurrency * 8)  # a claim's ~4 statements are paid per claim
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="check")
        self.apps = SweepApps(vault)  # check/apps.py: inspectors, names, probes and pauses per app
        apps = self.apps
        self.paused_until, self.app_names, self.probes = apps.paused_until, apps.names, apps.probes
        self.gate_timeout = 120.0  # how long a check waits for its app's probe
        # The tokens a sweep leased and has not stored or released yet: empty once a sweep ended well; what
        # is left (its last release failed) is released by release_held at the next sweep's end or when the
        # daemon stops.
        self.holding: set[int] = set()

    def reload(self, settings: SweepSettings) -> None:
        """A reloaded schedule, lease and thresholds apply from the next claim."""
        self.cadence, self.lease, self.horizons = settings.cadence, settings.lease, settings.horizons

    def sweep(self) -> SweepStats:
        """Inspect every due token (until none is due, the budget runs out, or stop() is called)."""
        stats = SweepStats()
        pending: set[Future[CheckOutcome]] = set()
        arrived, done, exhausted = Arrivals[CheckOutcome](), list[CheckOutcome](), False  # check/arrivals.py
        held = self.holding  # leased and not yet stored (with what an earlier sweep failed to release)
        renewed, size = time.monotonic(), max(64, self.concurrency * 8)  # claims grow to claim_size
        try:
            while not self.stopping.is_set():
                if len(pending) < self.concurrency * 4 and not exhausted:  # keep workers fed during writes
                    batch, size = self._claim(size, stats), min(2 * size, self.claim_size)
                    futures = self._submit(batch, stats)
                    arrived.watch(futures)
                    pending |= futures
                    held.update(c.id for c in batch)
                    exhausted = not batch or stats.budget_exhausted
                if not pending:
                    break
                refill = len(pending) - self.concurrency * 4 + 1 if not exhausted else len(pending)
                wake = min(1.0, max(0.0, renewed + self.lease / 3 - time.monotonic())) if held else 1.0
                finished = arrived.take(wake, need=min(refill, self.write_batch - len(done)))
                pending.difference_update(finished)
                done.extend(f.result() for f in finished)
                if len(done) >= self.write_batch or (not pending and done):
                    self._store(done, stats)
                    held.difference_update(o.claimed.id for o in done)
                    done = []
                if time.monotonic() - renewed > self.lease / 3 and held:
                    # A slow API can keep claimed work queued longer than the lease: renew it, or another
                    # daemon (or this one) would claim and inspect the same tokens again.
                    self._tx(lambda s: store.renew(s, self.owner, list(held), self.clock() + self.lease))
                    renewed = time.monotonic()
                if finished:  # progress means answers arriving; a hung call must starve the watchdog
                    self.on_progress()
        finally:
            stats.stopped = self.stopping.is_set()
            self._finish(pending, done, stats)
        return stats

    def check_now(self, token_ids: Iterable[int], tick: Tick | None = None) -> list[CheckOutcome]:
        """Inspect the given tokens at once, whatever their schedule (the refresher's follow-up check)."""
        return self.check_ids(token_ids, tick).outcomes

    def check_ids(
        self, token_ids: Iterable[int], tick: Tick | None = None, stop: threading.Event | None = None
    ) -> CheckRun:
        """Inspect the given tokens at once (the `check` command), until `stop` is set."""
        ids = list(token_ids)
        claim: Claim = lambda s, owner, now: store.claim_ids(s, ids, owner, now, self.lease)  # noqa: E731
        return self.run_claimed(claim, "check", tick, stop)

    def check_claimed(self, claim: Claim, purpose: str, tick: Tick | None = None) -> list[CheckOutcome]:
        return self.run_claimed(claim, purpose, tick).outcomes

    def run_claimed(
        self, claim: Claim, purpose: str, tick: Tick | None = None, stop: threading.Event | None = None
    ) -> CheckRun:
        """Inspect at once the tokens `claim(session, owner, now)` leases, under an owner of their own (the
        end of a concurrent sweep must not drop those leases), within the budget, whatever app pauses;
        answers are stored as they arrive (check/asked.py). When `stop` is set, or anything
        fails, what was answered is stored and every token still held is released at once."""
        now, owner = self.clock(), self.owner_for(purpose)

        def claim_and_load(s: Session) -> list[store.Claimed]:
            claimed = claim(s, owner, now)
            self.apps.load(s, {c.app_id for c in claimed})
            return claimed

        run = CheckRun(self._tx(claim_and_load))
        stats = SweepStats()
        pending = self._submit(run.claimed, stats, honour_pauses=False, owner=owner)
        return collect(
            run,
            pending,
            store=lambda answered: self._store(answered, stats, owner=owner),
            release=lambda left: self._tx(lambda s: store.release(s, owner, left)),
            tick=tick,
            stop=stop,
        )

    def owner_for(self, purpose: str) -> str:
        """The lease owner of checks asked for at once (`run_claimed`) for `purpose`."""
        return f"{self.owner}:{purpose}"

    def stop(self) -> None:
        self.stopping.set()

    def release_held(self) -> int:
        """Release what an ended sweep could not (see `holding`); the number released."""
        if not self.holding:
            return 0
        ids, now = sorted(self.holding), self.clock()
        released = self._tx(lambda s: store.release_unchecked(s, self.owner, ids, now))
        self.holding.clear()
        return released

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- claiming and submitting -------------------------------------------------------------------

    def _claim(self, size: int, stats: SweepStats) -> list[store.Claimed]:
        if self.budget is not None:
            size = min(size, self.budget.available() // self.calls_per_check)
            if size <= 0:
                stats.budget_exhausted = True
                return []
        now = self.clock()

        def claim(s: Session) -> list[store.Claimed]:
            claimed = store.claim_due(s, self.owner, now, self.lease, size)
            self.apps.load(s, {c.app_id for c in claimed})
            return claimed

        return self._tx(claim)

    def _tx(self, work: Callable[[Session], T]) -> T:
        return transactions.in_transaction(self.sessions, work)

    def _submit(
        self,
        claimed: list[store.Claimed],
        stats: SweepStats,
        honour_pauses: bool = True,
        owner: str | None = None,
    ) -> set[Future[CheckOutcome]]:
        futures: set[Future[CheckOutcome]] = set()
        deferred: dict[float, list[int]] = defaultdict(list)
        now = self.clock()
        probed: set[int] = set()  # apps probed by this batch: the rest of the batch reuses a refusal
        for c in claimed:
            until = self.paused_until.get(c.app_id, 0.0)
            if honour_pauses and until > now:
                deferred[until].append(c.id)
                continue
            if self.budget is not None and not self.budget.try_acquire(self.calls_per_check):
                stats.budget_exhausted = True
                deferred[now + self.budget.next_free_in()].append(c.id)
                continue
            gate = self.probes.gate(c.app_id, now, honour_pauses, probed)
            future = self._pool.submit(self._inspect, c, gate)
            if gate is not None and gate[1]:
                future.add_done_callback(opener(gate[0]))  # a cancelled probe opens its gate too
            futures.add(future)
        if deferred:

            def defer(s: Session) -> None:
                for at, ids in deferred.items():
                    store.release(s, owner or self.owner, ids, next_check_at=at)

            self._tx(defer)
            stats.deferred += sum(len(v) for v in deferred.values())
        return futures

    def _inspect(self, c: store.Claimed, gate: Gate | None = None) -> CheckOutcome:
        started = time.monotonic()
        probe = gate is not None and gate[1]
        try:
            if gate is not None and not probe:
                failed = self.probes.wait(c.app_id, gate, self.gate_timeout)
                if failed is not None:  # the app's inspector is refused: no call, the token stays unchecked
                    result = replace(failed, attempts=0, usage=None)
                    return self._outcome(c, result, started)
            result = self.apps.inspect(self.client, c)
            self.probes.learn(c.app_id, result, cadence=self.cadence, now=self.clock())
            return self._outcome(c, result, started)
        finally:
            if probe and gate is not None:
                gate[0].set()

    def _outcome(self, c: store.Claimed, result: CheckResult, started: float) -> CheckOutcome:
        if self.budget is not None:
            self.budget.refund(max(0, self.calls_per_check - result.attempts))
        return CheckOutcome(c, result, time.monotonic() - started)

    # --- storing -----------------------------------------------------------------------------------

    def _store(self, outcomes: list[CheckOutcome], stats: SweepStats, owner: str | None = None) -> None:
        if not outcomes:
            return
        owner, now = owner or self.owner, self.clock()
        write_outcomes(
            self.sessions,
            outcomes,
            owner=owner,
            now=now,
            cadence=self.cadence,
            rand=self.rand,
            horizons=self.horizons,
        )
        for o in outcomes:
            self.apps.note_throttling(o, now, self.cadence.min_interval)
            stats.inspected += 1
            stats.results[o.result.verdict.value] += 1
            self.on_check(o.result.verdict.value, o.duration)

    def _finish(self, pending: set[Future], done: list[CheckOutcome], stats: SweepStats) -> None:
        """On the way out (normal or stop): store what finished, release what did not. The leases dropped
        are those of `holding` (this sweep's, by primary key): releasing every lease of the owner read each
        of its earlier claims again through the lease index, once per sweep, most often to release none."""
        for f in pending:
            f.cancel()
        if pending:
            finished, _ = wait(pending, timeout=5.0)
            done.extend(f.result() for f in finished if not f.cancelled() and f.exception() is None)
        try:
            self._store(done, stats)
            self.holding.difference_update(o.claimed.id for o in done)
        finally:
            self.release_held()
