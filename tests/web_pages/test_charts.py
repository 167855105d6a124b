"""monitor.web.charts: the inline SVGs, read as XML, without a database or a clock."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from monitor.state import Horizons
from monitor.web.charts import Observation, day_bars, timeline

DAY = 86400.0
NOW = 1_800_000_000.0
SVG = "{http://www.w3.org/2000/svg}"
H = Horizons()


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_day_bars_one_titled_group_per_day_with_tokens() -> None:
    start = NOW - NOW % DAY
    expiring, data_access = [0] * 60, [0] * 60
    expiring[3], data_access[3], expiring[40] = 250, 7, 1
    root = parse(day_bars(start, expiring, data_access, H))
    groups = root.findall(f"{SVG}g")
    assert [g.find(f"{SVG}title").text for g in groups] == [  # type: ignore[union-attr]
        "2027-01-18: 250 expire, 7 lose data access",
        "2027-02-24: 1 expire, 0 lose data access",
    ]
    heights = [float(r.get("height", 0)) for r in groups[0].findall(f"{SVG}rect")]
    assert heights[0] > heights[1] > 0 and "500" in day_bars(start, expiring, data_access, H)  # axis top 500


def test_timeline_jumps_at_each_refresh_and_marks_invalid_stretches() -> None:
    history = [Observation(NOW - k * 50 * DAY, True, NOW - k * 50 * DAY + 60 * DAY, None) for k in (3, 2, 1)]
    history.append(Observation(NOW - 10 * DAY, False, None, None))
    root = parse(timeline(history, NOW, H))
    assert len(root.findall(f".//{SVG}circle")) == 2  # refreshes of the expiry, none for data access (never)
    paths = [p.get("d", "") for p in root.findall(f".//{SVG}path")]
    assert len(paths) == 1 and paths[0].count("M") == 1  # one unbroken saw-tooth line
    assert any("invalid from" in (t.text or "") for t in root.iter(f"{SVG}title"))


def test_timeline_of_a_token_that_never_expires_and_of_none() -> None:
    svg = timeline([Observation(NOW - DAY, True, None, None)], NOW, H)
    assert svg.count("never expires") == 2 and "<path" not in svg
    assert "No observation yet" in timeline([], NOW, H)
