"""Packages are found, never listed by hand: a new package under monitor/ ships without anyone remembering to.

migrations/ stays at the top of the repository, where Alembic users look for it, and ships inside the
package as monitor.migrations so an installed daemon can run `migrate` without the source tree. Everything
else about the build is declared in pyproject.toml; tests/test_packaging.py builds and installs the result.
"""

from setuptools import find_packages, setup

MIGRATIONS = "migrations"

packages = find_packages(include=["monitor", "monitor.*"])
packages += [f"monitor.{name}" for name in find_packages(include=[MIGRATIONS, f"{MIGRATIONS}.*"])]

setup(packages=packages, package_dir={"monitor.migrations": MIGRATIONS})
