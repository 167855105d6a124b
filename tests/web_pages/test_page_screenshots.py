"""The README's screenshots, taken in the suite: `python -m bench.screenshots` renders the fleet page of a
mixed fleet and a refreshed token's page in headless Chromium at desktop and phone width.

Needs Debian's `chromium` (`.ci/run` installs it; tests/support.py says what happens without it).
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.needs_tool("chromium")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.mark.timeout(240)
def test_screenshots_at_desktop_and_phone_width(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.screenshots", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("fleet", "token"):
        assert png_size(tmp_path / f"{page}-desktop.png")[0] == 1280
        assert png_size(tmp_path / f"{page}-phone.png")[0] == 390
        assert (tmp_path / f"{page}-phone.png").stat().st_size > 20_000  # a page was drawn, not a blank
    for committed in ("fleet-desktop", "fleet-phone", "token-desktop", "token-phone"):
        assert (ROOT / "docs" / "screenshots" / f"{committed}.png").is_file()
