"""Packages are found, never listed by hand: a new package under monitor/ ships without anyone remembering to.

migrations/ stays at the top of the repository, where Alembic users look for it, and ships inside the
package as monitor.migrations so an installed daemon can run `migrate` without the source tree. Everything
else about the build is declared in pyproject.toml; tests/test_packaging.py builds and installs the result.

The git commit being built is written as monitor/REVISION (threads_monitor_build_info's `revision`): into the
sdist's top folder when the sdist is made from a git checkout, and into the package from there (or from git)
when it is built. A tree without either builds with no REVISION: the revision then reads "unknown".
"""

import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

MIGRATIONS = "migrations"
HERE = Path(__file__).resolve().parent
REVISION = "REVISION"

packages = find_packages(include=["monitor", "monitor.*"])
packages += [f"monitor.{name}" for name in find_packages(include=[MIGRATIONS, f"{MIGRATIONS}.*"])]


def revision() -> str | None:
    """The commit of this tree: from an sdist's REVISION, else from git when HERE is a checkout's top."""
    stored = HERE / REVISION
    if stored.is_file():
        return stored.read_text(encoding="ascii").strip() or None
    git = ["git", "-C", str(HERE), "rev-parse", "--show-toplevel", "HEAD"]
    try:
        done = subprocess.run(git, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    top, commit = (done.stdout.split() + ["", ""])[:2]
    return commit if Path(top).resolve() == HERE else None


class BuildWithRevision(build_py):
    def run(self) -> None:
        super().run()
        commit = revision()
        if commit and not self.editable_mode:
            Path(self.build_lib, "monitor", REVISION).write_text(commit + "\n", encoding="ascii")


class SdistWithRevision(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        commit = revision()
        if commit:
            Path(base_dir, REVISION).write_text(commit + "\n", encoding="ascii")


setup(
    packages=packages,
    package_dir={"monitor.migrations": MIGRATIONS},
    cmdclass={"build_py": BuildWithRevision, "sdist": SdistWithRevision},
)
