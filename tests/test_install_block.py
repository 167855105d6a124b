"""The install block of the README and of the systemd guide works as written on a fresh Debian 12 or Ubuntu
24.04 (PEP 668: a virtualenv first, no `pip install` into the system's Python): this test runs it.

The block is the lines between `<!-- install -->` and `<!-- /install -->`; README.md and docs/systemd.md must
hold the same one. Its `$ ` lines run in order in one shell (`set -e`, so a failing line fails the test) in a
temporary folder, with three changes only: `sudo ` is dropped (the test is not root everywhere), the
`apt install` line is the machine's business and is not run, `/opt/threads-token-monitor` becomes a
temporary folder and `<this repository>` this checkout (as `git clone` sees it: its committed tree). PATH is
the system's, so `python3` is the machine's Python, not the test virtualenv's; pip's cache is the user's.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKED = re.compile(r"^<!-- install -->\n```console\n(.*?)^```\n<!-- /install -->$", re.MULTILINE | re.DOTALL)
PREFIX = "/opt/threads-token-monitor"
INSTALL_TIMEOUT = 900  # dependencies come from the package index (or pip's cache) as they do for users

pytestmark = pytest.mark.needs_tool("git")


def install_block(path: Path) -> list[str]:
    """The `$ ` lines of the file's one install block."""
    blocks = MARKED.findall(path.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{path.name}: expected one marked install block, found {len(blocks)}"
    return [line[2:] for line in blocks[0].splitlines() if line.startswith("$ ")]


def test_the_readme_and_the_guide_give_the_same_block() -> None:
    readme, guide = install_block(ROOT / "README.md"), install_block(ROOT / "docs" / "systemd.md")
    assert readme == guide
    assert any(re.match(r"sudo python3 -m venv ", line) for line in readme), "a virtualenv first (PEP 668)"
    assert not any(re.search(r"(^|sudo |\s)python3 -m pip install", line) for line in readme), (
        "pip outside a virtualenv is refused on Debian 12 (externally-managed-environment)"
    )


def as_run(line: str, prefix: Path) -> str | None:
    """The line as this test runs it, or None for the `apt install` line."""
    if re.match(r"sudo apt(-get)? install ", line):
        return None
    return line.removeprefix("sudo ").replace("<this repository>", str(ROOT)).replace(PREFIX, str(prefix))


def test_the_install_block_works_as_written(tmp_path: Path) -> None:
    lines = install_block(ROOT / "README.md")
    prefix = tmp_path / "opt" / "threads-token-monitor"
    prefix.parent.mkdir()
    commands = [c for c in (as_run(line, prefix) for line in lines) if c is not None]
    assert len(commands) == len(lines) - 1, "only the apt line is skipped"
    assert not any("sudo" in c for c in commands), commands
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "THREADS_TOKEN"))
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    work = tmp_path / "home"
    work.mkdir()
    done = subprocess.run(
        ["/bin/bash", "-euxc", "\n".join(commands)],
        cwd=work, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert version
    said = re.search(rf"^threads-token-monitor {re.escape(version.group(1))}\b", done.stdout, re.MULTILINE)
    assert said, done.stdout[-3000:]  # the last line of the block: `version`
    where = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import monitor; print(monitor.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(prefix), (
        f"installed from the checkout, not into the virtualenv: {where}"
    )
    assert (prefix / "bin" / "threads-token-monitor").is_file()
