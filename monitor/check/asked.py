"""Checks asked for at once (the `check` command, callbacks, the recheck API, a refresh's follow-up): their
answers are collected as they arrive and stored at least every STORE_EVERY seconds; what was never answered
(stopped, or failed) has its lease released at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

from monitor.check.outcome import CheckOutcome, CheckRun
from monitor.check.progress import Tick

__all__ = ["STORE_EVERY", "collect"]

STORE_EVERY = 0.5  # seconds: asked-for checks store their answers at least this often while they run


def collect(
    run: CheckRun,
    pending: set[Future[CheckOutcome]],
    *,
    store: Callable[[list[CheckOutcome]], None],
    release: Callable[[list[int]], object],
    tick: Tick | None = None,
    stop: threading.Event | None = None,
) -> CheckRun:
    """Wait for the answers to `run`'s checks (until `stop` is set), storing them as they come; then store
    what came last and release the tokens of `run.claimed` left without an answer."""
    answered: list[CheckOutcome] = []
    stored_at = time.monotonic()
    try:
        while pending and not (stop is not None and stop.is_set()):
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                answered.append(future.result())
                if tick is not None:
                    tick(1)  # the `check` progress bar
            if answered and (not pending or time.monotonic() - stored_at >= STORE_EVERY):
                store(answered)
                run.outcomes += answered
                answered, stored_at = [], time.monotonic()
    finally:
        run.interrupted = bool(pending)
        for future in pending:
            future.cancel()  # calls in flight are abandoned: their answers come too late to count
        answered += [f.result() for f in pending if f.done() and not f.cancelled() and not f.exception()]
        store(answered)
        run.outcomes += answered
        if left := {c.id for c in run.claimed} - {o.claimed.id for o in run.outcomes}:
            release(sorted(left))
    return run
