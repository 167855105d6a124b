"""Packages are found, never listed by hand: a new package under monitor/ ships without anyone remembering to.

migrations/ stays at the top of the repository, where Alembic users look for it, and ships inside the
package as monitor.migrations so an installed daemon can run `migrate` without the source tree. Everything
else about the build is declared in pyproject.toml; tests/test_packaging.py builds and installs the result.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

MIGRATIONS = "migrations"


def pypi_description(readme: str) -> str:
    """README.md as PyPI shows it: PyPI renders no relative path (a picture or a page of docs/ would be
    broken), so a relative image goes and a relative link keeps its text. GitHub renders the file as it is."""
    relative = r"(?![a-z][a-z0-9+.-]*:|#)[^)\s]+"
    readme = re.sub(rf"^!\[[^\]]*\]\({relative}\)\n\n?", "", readme, flags=re.MULTILINE)
    readme = re.sub(rf"!\[[^\]]*\]\({relative}\)", "", readme)
    readme = re.sub(r'<img [^>]*src="(?![a-z]+:)[^"]*"[^>]*>', "", readme)
    return re.sub(rf"\[([^\]]+)\]\({relative}\)", r"\1", readme)


packages = find_packages(include=["monitor", "monitor.*"])
packages += [f"monitor.{name}" for name in find_packages(include=[MIGRATIONS, f"{MIGRATIONS}.*"])]

setup(
    packages=packages,
    package_dir={"monitor.migrations": MIGRATIONS},
    long_description=pypi_description(Path(__file__).with_name("README.md").read_text(encoding="utf-8")),
    long_description_content_type="text/markdown",
)
