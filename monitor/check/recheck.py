"""Checks asked for at once (SPEC 11): tokens a deauthorize callback or the recheck API queued.

`Rechecker.run()` claims queued tokens (claim_rechecks: SKIP LOCKED leases, so with several daemons each
queued token is checked by one of them) and inspects them with the sweeper's workers and call budget, ahead
of scheduled work: it runs on a thread of its own, woken when this process queues something and every
`poll` seconds for what another daemon queued. Its workers are its own (a sibling of the daemon's sweeper
sharing the API client and the call budget), so a long or slow sweep never queues them behind its work.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session

from monitor.check import store
from monitor.check.settings import SweepSettings
from monitor.check.sweep import CheckOutcome, Claim, Sweeper
from monitor.graph.budget import BudgetShare, CallBudget
from monitor.redact import error_line

__all__ = ["PURPOSE", "SHARE", "Rechecker"]

log = logging.getLogger("monitor.recheck")

PURPOSE = "cb"  # lease owner suffix (owners are at most 64 characters)
SHARE = 0.25  # of [threads] max_calls_per_hour: what queued checks may spend in any hour


def sibling(sweeper: Sweeper, workers: int, budget: CallBudget | None) -> Sweeper:
    """A sweeper with `workers` threads of its own that shares `sweeper`'s database, vault, API client,
    schedule, alert thresholds, owner and metrics hook, and spends `budget` (a share of the sweeper's)."""
    return Sweeper(
        sessions=sweeper.sessions,
        vault=sweeper.vault,
        client=sweeper.client,
        cadence=sweeper.cadence,
        owner=sweeper.owner,
        concurrency=workers,
        lease=sweeper.lease,
        budget=budget,
        retries=sweeper.calls_per_check - 1,
        clock=sweeper.clock,
        rand=sweeper.rand,
        on_check=sweeper.on_check,
        horizons=sweeper.horizons,
    )


class Rechecker:
    """Runs queued checks on a thread and workers of its own; `wake()` after queuing something runs them
    now. `main` is the daemon's sweeper: its schedule, lease and stop apply here too. Queued checks spend at
    most `share` of the call budget in any hour (`budget_share`, changeable on reload): what is queued
    beyond it waits, and scheduled checks keep the rest."""

    def __init__(
        self, main: Sweeper, *, poll: float = 1.0, batch: int = 64, workers: int = 4, share: float = SHARE
    ) -> None:
        self.main, self.poll, self.batch = main, poll, batch
        self.budget_share = BudgetShare(main.budget, share) if main.budget is not None else None
        self.sweeper = sibling(main, min(workers, main.concurrency), self.budget_share)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> list[CheckOutcome]:
        """Check every queued token this process can claim within the budget; what was checked."""
        outcomes: list[CheckOutcome] = []
        main = self.main  # a reload of the main sweeper applies here too
        self.sweeper.reload(SweepSettings(main.cadence, main.lease, main.horizons))
        while not self._stop.is_set() and not self.main.stopping.is_set():
            size = self._room()
            if size <= 0:
                break
            checked = self.sweeper.check_claimed(self._claimer(size), PURPOSE)
            outcomes += checked
            if not checked:
                break
        return outcomes

    def _room(self) -> int:
        """How many queued tokens the call budget lets this round claim."""
        budget = self.sweeper.budget
        if budget is None:
            return self.batch
        return min(self.batch, budget.available() // self.sweeper.calls_per_check)

    def _claimer(self, size: int) -> Claim:
        lease = self.sweeper.lease

        def claim(s: Session, owner: str, now: float) -> list[store.Claimed]:
            return store.claim_rechecks(s, owner, now, lease, size)

        return claim

    def reload(self, share: float) -> None:
        """A reloaded `recheck_share`: queued checks may spend this fraction of the call budget."""
        if self.budget_share is not None:
            self.budget_share.fraction = share

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="recheck", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, wait (at most `timeout`) for the round in flight, release the workers."""
        self._stop.set()
        self._wake.set()
        self.sweeper.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sweeper.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            try:
                checked = self.run()
            except Exception as exc:  # the boundary: a database outage costs one round, not the thread
                log.error("queued checks failed: %s", error_line(exc))
                continue
            if checked:
                invalid = sum(1 for o in checked if o.result.verdict.value == "invalid")
                log.info("checked %d queued token(s) at once (%d invalid)", len(checked), invalid)
