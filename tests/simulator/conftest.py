"""The simulator's tests: `sim` is a started simulator with one app of each platform (helpers_sim), on a
clock fixed at NOW."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_sim import NOW, three_platforms

from monitor.simulator import Simulator


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with three_platforms(clock=lambda: NOW) as started:
        yield started
