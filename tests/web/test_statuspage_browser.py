"""The status page (GET / of the daemon's endpoint) rendered by a real headless Chromium on a phone-width
window: the demo's tokens appear in the DOM, and a screenshot is saved under the test's temporary folder.

Needs Debian's `chromium` (`.ci/run` installs it; tests/support.py says what happens without it).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support import tool
from test_demo import ALERT_LINE, FIRST_ALERT_WITHIN, DemoRun

from monitor.demo import TOKENS

pytestmark = pytest.mark.needs_tool("chromium")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=420,900"]  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = tool("chromium")
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_status_page_in_a_headless_browser(tmp_path: Path) -> None:
    demo = DemoRun(cwd=tmp_path)
    try:
        demo.wait_for_line(ALERT_LINE, within=FIRST_ALERT_WITHIN)  # every token has been looked at by now
        page = demo.get("/", within=20, ready=lambda status, body: status == 200 and "globex" in body)
        assert "<html" in page.lower()

        dom = chromium(tmp_path, "--dump-dom", demo.base + "/")
        assert dom.returncode == 0, dom.stderr[-2000:]
        for token in TOKENS:
            assert re.search(rf"\b{re.escape(token.name)}\b", dom.stdout), f"{token.name} not in the DOM"
        assert "<script src=" not in dom.stdout  # no JavaScript bundle: the page is plain HTML

        shot = tmp_path / "status.png"
        result = chromium(tmp_path, f"--screenshot={shot}", demo.base + "/")
        assert result.returncode == 0, result.stderr[-2000:]
        assert shot.exists() and shot.stat().st_size > 1000
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        assert demo.stop() == 0, demo.stderr
