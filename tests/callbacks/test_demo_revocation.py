"""`make demo`: a user removes the app mid-demo and the revocation is caught through the callback.

The simulator revokes cyberdyne REVOKE_AFTER seconds in and POSTs Meta's signed deauthorize callback to the
demo daemon's [callbacks] listener; the daemon checks the token at once and TokenInvalid reaches the
console, long before cyberdyne's next scheduled check.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_demo import DemoRun

from monitor.demo import REVOKE_AFTER, TOKENS


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    run = DemoRun(cwd=tmp_path)
    try:
        yield run
    finally:
        run.stop(signal.SIGKILL)


def test_the_demo_catches_a_revocation_through_the_callback(demo: DemoRun) -> None:
    (story,) = [t.story for t in TOKENS if t.revoke_after is not None]
    assert "deauthorize callback" in story
    demo.wait_for_line(re.compile(r"callbacks\s+http://127\.0\.0\.1:\d+/callbacks/threads/"), within=30)
    demo.wait_for_line(re.compile(r"^\* cyberdyne: its user removed the app"), within=REVOKE_AFTER + 30)
    line = demo.wait_for_line(re.compile(r"FIRING critical TokenInvalid token=cyberdyne"), within=30)
    assert "the user removed the app" in line
    table = demo.wait_for_line(re.compile(r"^cyberdyne .*by a deauthorize callback"), within=10)
    assert "invalid" in table
    assert demo.stop(signal.SIGINT) == 0, demo.stderr
