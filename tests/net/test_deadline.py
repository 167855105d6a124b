"""The one deadline-watcher thread (monitor/net/deadline.py) behind every outbound call's total deadline."""

from __future__ import annotations

import threading

from support import wait_until

from monitor.net.deadline import watch


def watcher_alive() -> bool:
    return any(t.name == "deadlines" and t.is_alive() for t in threading.enumerate())


def test_deadlines_fire_in_order_of_time_not_of_registration() -> None:
    fired: list[str] = []
    late = watch(0.6, lambda: fired.append("late"))
    early = watch(0.05, lambda: fired.append("early"))  # earlier than what the watcher sleeps towards
    wait_until(lambda: fired == ["early", "late"], 10, "both deadlines, the early one first")
    assert early.is_set() and late.is_set()


def test_a_cancelled_deadline_never_fires() -> None:
    fired: list[str] = []
    cancelled = watch(0.05, lambda: fired.append("cancelled"))
    cancelled.cancel()
    kept = watch(0.2, lambda: fired.append("kept"))
    wait_until(kept.is_set, 10, "the deadline not cancelled")
    assert fired == ["kept"] and not cancelled.is_set()


def test_a_failing_cut_does_not_stop_the_watcher() -> None:
    def boom() -> None:
        raise RuntimeError("a cut that fails")

    watch(0.01, boom)
    after = watch(0.05, lambda: None)
    wait_until(after.is_set, 10, "the deadline after a failing one")


def test_many_calls_share_one_thread_that_ends_when_nothing_is_watched() -> None:
    entries = [watch(30.0, lambda: None) for _ in range(10_000)]  # cancelled ones are compacted away
    assert sum(t.name == "deadlines" for t in threading.enumerate()) == 1
    for entry in entries:
        entry.cancel()
    wait_until(lambda: not watcher_alive(), 10, "the idle watcher to end")
    restarted = watch(0.01, lambda: None)  # and the next call starts it again
    wait_until(restarted.is_set, 10, "a deadline after the watcher ended")
