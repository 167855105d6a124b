from __future__ import annotations

import pytest

from monitor.timefmt import humanize_duration, iso_utc, relative, rfc3339

NOW = 1796119200.0  # 2026-12-01T10:00:00Z


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (0.4, "0 seconds"),
        (1, "1 second"),
        (30, "30 seconds"),
        (60, "1 minute"),
        (45 * 60, "45 minutes"),
        (3600, "1 hour"),
        (3 * 3600 + 5 * 60, "3 hours 5 minutes"),
        (3 * 3600 + 5 * 60 + 29, "3 hours 5 minutes"),
        (3 * 3600 + 5 * 60 + 31, "3 hours 6 minutes"),
        (86400 - 0.1, "1 day"),
        (86400 + 4 * 3600 - 0.1, "1 day 4 hours"),
        (59.6, "1 minute"),
        (86400, "1 day"),
        (2 * 86400, "2 days"),
        (86400 + 4 * 3600, "1 day 4 hours"),
        (86400 + 4 * 3600 + 29 * 60, "1 day 4 hours"),
        (86400 + 5 * 60, "1 day"),  # rounded to the hour: "1 day 5 minutes" is false precision
        (60 * 86400, "60 days"),
        (-(2 * 3600), "2 hours"),
    ],
)
def test_humanize_duration(seconds: float, words: str) -> None:
    assert humanize_duration(seconds) == words


def test_iso_utc() -> None:
    assert iso_utc(NOW) == "2026-12-01T10:00:00Z"
    assert iso_utc(NOW + 0.9) == "2026-12-01T10:00:00Z"
    assert iso_utc(0) == "1970-01-01T00:00:00Z"


def test_rfc3339_keeps_milliseconds_only_when_present() -> None:
    assert rfc3339(NOW) == "2026-12-01T10:00:00Z"
    assert rfc3339(NOW + 0.25) == "2026-12-01T10:00:00.250Z"


def test_relative() -> None:
    assert relative(NOW + 86400 + 4 * 3600, NOW) == "in 1 day 4 hours"
    assert relative(NOW - 2 * 3600, NOW) == "2 hours ago"
    assert relative(NOW + 0.5, NOW) == "now"
    assert relative(NOW - 3 * 86400, NOW) == "3 days ago"
    assert relative(NOW + 3 * 86400, NOW) == "in 3 days"
