"""The write-back of a sweep's outcomes: results, inspector states and lease release in one transaction.

A value the database refuses costs one token a recorded error, not the whole batch on every sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from monitor.check import store, transactions, writes
from monitor.check.observe import Cadence
from monitor.check.outcome import UNSTORABLE, CheckOutcome, check_write, inspector_states
from monitor.state import Horizons

log = logging.getLogger("monitor.sweep")


def write_outcomes(
    sessions: sessionmaker[Session],
    outcomes: list[CheckOutcome],
    *,
    owner: str,
    now: float,
    cadence: Cadence,
    rand: Callable[[], float],
    horizons: Horizons | None,
) -> None:
    """Store `outcomes` and release their leases held by `owner`; a refused batch is stored one by one, and
    an outcome the database still refuses is stored as UNSTORABLE."""

    def write(batch: list[CheckOutcome]) -> None:
        rows = [check_write(o.claimed, o.result, cadence, now, rand(), horizons) for o in batch]

        def work(s: Session) -> None:
            every_one = writes.write_results(s, owner, rows)
            for app_id, state, reason, message in inspector_states(batch):
                store.set_inspector_state(s, app_id, state, reason, message, now)
            if not every_one:  # a token replaced meanwhile keeps this owner's lease: drop it
                store.release(s, owner, [o.claimed.id for o in batch])

        transactions.in_transaction(sessions, work)

    try:
        write(outcomes)
    except DataError:
        log.error("the database refused a batch of %d results: storing them one by one", len(outcomes))
        for o in outcomes:
            try:
                write([o])
            except DataError:
                write([replace(o, result=UNSTORABLE)])
