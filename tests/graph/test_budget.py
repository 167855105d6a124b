"""CallBudget: a rolling hour, reservations and refunds, and calls made before a restart."""

from __future__ import annotations

from monitor.graph.budget import CallBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rolling_hour_with_refunds() -> None:
    clock = Clock()
    budget = CallBudget(10, clock=clock)
    assert budget.try_acquire(3) and budget.try_acquire(3) and budget.try_acquire(3)
    assert not budget.try_acquire(3)  # 9 + 3 > 10
    budget.refund(2)  # two reserved retries were not needed
    assert budget.try_acquire(3)
    assert budget.available() == 0
    assert budget.next_free_in() == 3600
    clock.now += 3600
    assert budget.available() == 10


def test_calls_before_a_restart_count() -> None:
    """A daemon restarted (or crash-looping) does not get a fresh hour: stored check times are preloaded."""
    clock = Clock()
    budget = CallBudget(10, clock=clock)
    budget.preload([10.0, 100.0, 3599.0, 3600.0, 7200.0, -5.0])  # ages; only those within the hour count
    assert budget.available() == 7
    clock.now += 2
    assert budget.available() == 8  # the call made 3599 s before the start has left the window
    budget.preload([float(i) for i in range(50)])
    assert budget.available() == 0  # more than the ceiling in the last hour: full until they age out
    clock.now += 3600
    assert budget.available() == 10


def test_a_share_spends_at_most_its_fraction_and_follows_the_main_ceiling() -> None:
    from monitor.graph.budget import BudgetShare

    clock = Clock()
    main = CallBudget(100, clock=clock)
    share = BudgetShare(main, 0.25)
    assert sum(share.try_acquire() for _ in range(40)) == 25
    assert (share.available(), main.available()) == (0, 75)  # the rest is the schedule's
    share.refund(5)
    assert (share.available(), main.available()) == (5, 80)
    assert main.try_acquire(80) and share.available() == 0 and not share.try_acquire()
    assert share.available() == 0  # the main budget is spent: the share's room does not help
    main.per_hour = 200  # a reload: the share follows
    assert share.available() == min(50 - 20, 200 - 100)
    clock.now += 3600
    assert share.available() == 50
