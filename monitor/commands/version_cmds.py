"""`version [--json]`: this program's version and revision, and the Python, SQLite, SQLAlchemy and database
drivers it runs with (what a bug report needs). `--version` stays the one line."""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import subprocess
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from monitor import __version__
from monitor.commands.helptext import JSON_HELP, PROG, examples
from monitor.tables import print_json

DISTRIBUTION = "threads-token-monitor"
# What a check, a store and a notification pass through, by distribution name; the drivers say which URL.
COMPONENTS = {
    "SQLAlchemy": "",
    "alembic": "",
    "psycopg": "postgresql+psycopg://",
    "PyMySQL": "mysql+pymysql://",
    "cryptography": "",
    "requests": "",
    "APScheduler": "",
    "prometheus-client": "",
    "apprise": "",
}
GIT_TIMEOUT = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "version",
        help="version, revision, Python, SQLite, SQLAlchemy and driver versions",
        description=(
            "Print this program's version, the source revision when it is known (a checkout installed\n"
            "with `pip install -e`, or `pip install git+URL`), and the versions of Python, SQLite,\n"
            "SQLAlchemy, the database drivers and the other libraries it runs with. `--version` prints\n"
            "the first line only."
        ),
        epilog=examples("version", "version --json"),
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_version, no_config=True)


def cmd_version(ctx: None, args: argparse.Namespace) -> int:
    info = version_info()
    if args.json:
        print_json(info)
        return 0
    revision = f" (revision {info['revision']})" if info["revision"] else ""
    print(f"{PROG} {info['version']}{revision}")
    rows = [("Python", f"{info['python']} ({info['implementation']}, {info['platform']})")]
    rows.append(("SQLite", info["sqlite"]))
    for name, found in info["libraries"].items():
        used = f" ({COMPONENTS[name]})" if COMPONENTS[name] else ""
        rows.append((name, f"{found}{used}" if found else "not installed"))
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"  {name:<{width}}  {text}")
    return 0


def version_info() -> dict[str, Any]:
    """Everything `version` prints, as a dict (`version --json`)."""
    return {
        "version": __version__,
        "revision": revision(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version_of(name) for name in COMPONENTS},
    }


def _version_of(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def revision() -> str | None:
    """The source revision this installation came from, when pip recorded one (PEP 610 direct_url.json):
    the commit of a `pip install git+URL`, or `git describe` of the checkout behind an editable install.
    A wheel built from a checkout carries none."""
    try:
        raw = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    try:
        info = json.loads(raw or "{}")
    except ValueError:
        return None
    commit = (info.get("vcs_info") or {}).get("commit_id")
    if isinstance(commit, str) and commit:
        return commit[:12]
    if (info.get("dir_info") or {}).get("editable") and str(info.get("url", "")).startswith("file:"):
        return git_describe(Path(unquote(urlsplit(info["url"]).path)))
    return None


def git_describe(checkout: Path) -> str | None:
    """`git describe --always --dirty` of `checkout`, or None (no git, not a checkout, git refused)."""
    if not (checkout / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None
