"""The handbook builds: `mkdocs build --strict` over docs/ (mkdocs.yml at the root), so a broken link, a link
to a missing anchor or a page left out of the navigation fails the suite. mkdocs comes with the test extras;
with CI=true its absence fails (tests/support.py `missing`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support import missing

ROOT = Path(__file__).resolve().parent.parent


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        missing("mkdocs is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=root, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_handbook_builds_strictly(tmp_path: Path) -> None:
    done = build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    built = tmp_path / "site"
    assert (built / "index.html").is_file()
    # Directory URLs: the runbook_url of every rule (tests/test_runbooks.py) is a page's folder.
    assert (built / "runbooks" / "token-expiring" / "index.html").is_file()
    assert (built / "screenshots" / "fleet-desktop.png").is_file()


def test_a_broken_link_or_a_page_outside_the_navigation_fails_the_build(tmp_path: Path) -> None:
    for case, (name, text) in {
        "link": ("concepts.md", "\n[gone](no-such-page.md)\n"),
        "anchor": ("concepts.md", "\n[gone](cli.md#no-such-heading)\n"),
        "orphan": ("orphan.md", "# Not in the navigation\n"),
    }.items():
        root = tmp_path / case
        shutil.copytree(ROOT / "docs", root / "docs")
        shutil.copy2(ROOT / "mkdocs.yml", root / "mkdocs.yml")
        with (root / "docs" / name).open("a", encoding="utf-8") as f:
            f.write(text)
        done = build(root, root / "site")
        assert done.returncode != 0, f"{case}: the build passed\n{done.stderr}"
