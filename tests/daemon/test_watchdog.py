"""The watchdog's decisions on an injected clock: WATCHDOG=1 every half interval while sweeps progress, none
once a sweep has made no progress for the interval, and pings again when it moves. No real time passes;
test_systemd_daemon.py runs the same loop in a real daemon under a real notify socket."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from monitor.daemon.watchdog import Liveness, ping_while_alive

INTERVAL = 1.0  # WatchdogSec: systemd restarts the daemon after this long without a ping
EVERY = INTERVAL / 2  # how often the daemon pings (as lifecycle.py starts the loop)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ticks:
    """Stands in for the daemon's `stopped` event: each wait() is one interval on the clock, during which
    `during(t)` happens (t: the tick's end); the loop stops after `ticks` of them."""

    def __init__(self, clock: Clock, ticks: int, during: Callable[[float], None]) -> None:
        self.clock, self.left, self.during = clock, ticks, during

    def wait(self, timeout: float) -> bool:
        self.clock.now += timeout
        self.during(self.clock.now)
        self.left -= 1
        return self.left < 0


class Notifier:
    """Records what an SdNotifier would send, with the clock's time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pings: list[float] = []
        self.statuses: list[str] = []

    def watchdog(self) -> bool:
        self.pings.append(self.clock.now)
        return True

    def status(self, text: str) -> bool:
        self.statuses.append(text)
        return True


def run(ticks: int, during: Callable[[Liveness, float], None], running: bool = True) -> Notifier:
    clock = Clock()
    liveness = Liveness(stall_after=INTERVAL, clock=clock)
    sd = Notifier(clock)
    stop = Ticks(clock, ticks, lambda t: during(liveness, t))
    ping_while_alive(sd, liveness, lambda: running, stop, EVERY)  # type: ignore[arg-type]
    return sd


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in zip(times, times[1:], strict=False)]


def test_idle_is_alive_and_pings_every_half_interval() -> None:
    sd = run(6, lambda liveness, t: None)
    assert sd.pings == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]


def test_a_progressing_sweep_longer_than_the_interval_never_leaves_a_gap_of_the_interval() -> None:
    def sweep(liveness: Liveness, t: float) -> None:  # a 4 s sweep; a check finishes every 0.5 s
        if t == 0.5:
            liveness.sweep_started()
        elif t < 4.5:
            liveness.beat()
        elif t == 4.5:
            liveness.sweep_finished()

    sd = run(10, sweep)
    assert sd.pings == [0.5 * i for i in range(1, 11)]
    assert max(gaps(sd.pings)) < INTERVAL
    assert sd.statuses == []


def test_a_stalled_sweep_withholds_the_ping_once_logged_then_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def stall(liveness: Liveness, t: float) -> None:  # starts at 0.5, stuck from 1.0 to 3.0, then moves
        if t == 0.5:
            liveness.sweep_started()
        elif t == 1.0 or t >= 3.0:
            liveness.beat()

    caplog.set_level(logging.INFO, logger="monitor.daemon")
    sd = run(8, stall)
    # 1.5: 0.5 s since the last beat; 2.0 is exactly the interval without progress: withheld until 3.0.
    assert sd.pings == [0.5, 1.0, 1.5, 3.0, 3.5, 4.0]
    assert sd.statuses == ["sweep stalled: withholding the watchdog ping"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "sweep made no progress for 1 s: withholding the watchdog ping",
        "sweep progressing again: resuming the watchdog pings",
    ]


def test_no_ping_once_the_scheduler_stopped() -> None:
    assert run(4, lambda liveness, t: None, running=False).pings == []
