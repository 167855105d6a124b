"""CI cannot go green without what the suite tests.

`.ci/run` stops with "[ci] FAILED: ..." when it cannot install a package or start a database: its steps run
here, sourced, with a PATH that is a folder of stand-ins (so nothing is installed, and the machine's own
PostgreSQL and MariaDB are never stopped: the script is pointed at closed ports instead). And with CI=true a
test that needs a missing database or tool fails rather than skips: a small pytest run shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support import TOOLS, database_server, free_port, tool

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "run"
# What the steps run besides the tools they check for and bash's builtins.
COREUTILS = ("timeout", "sort", "tr", "ls", "tail", "chmod", "rm", "sleep")


def script_tools() -> dict[str, str]:
    """.ci/run's TOOLS: command -> Debian package."""
    out = subprocess.run(
        ["/bin/bash", "-c", 'source "$1" && printf "%s\\n" "${TOOLS[@]}"', "ci", str(SCRIPT)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return dict(line.split(":", 1) for line in out.stdout.split())


class FakeBin:
    """A folder that is the whole PATH: the coreutils the script uses, some real programs, and stand-ins."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "bin"
        self.dir.mkdir()
        self.calls = root / "calls.log"
        for name in COREUTILS:
            self.link(name, tool_path(name))

    def link(self, name: str, target: str) -> None:
        (self.dir / name).symlink_to(target)

    def stub(self, name: str, body: str = "exit 0") -> None:
        """A program that logs its arguments to `calls` and runs `body` (sh)."""
        path = self.dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.calls}"\n{body}\n', encoding="utf-8")
        path.chmod(0o755)

    def logged(self) -> str:
        return self.calls.read_text(encoding="utf-8") if self.calls.exists() else ""

    def run(self, step: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`source .ci/run && STEP` with this folder as PATH and `env` on top."""
        return subprocess.run(
            ["/bin/bash", "-c", f'source "$1" && {step}', "ci", str(SCRIPT)],
            env={"PATH": str(self.dir), "HOME": str(self.dir.parent), "CI_WAIT": "2", **env},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def tool_path(name: str) -> str:
    found = subprocess.run(["/bin/sh", "-c", f"command -v {name}"], capture_output=True, text=True)
    assert found.returncode == 0, f"{name} is part of every Debian system"
    return found.stdout.strip()


@pytest.fixture
def fake(tmp_path: Path) -> FakeBin:
    return FakeBin(tmp_path)


def every_tool_but(fake: FakeBin, absent: str) -> None:
    for name in script_tools():
        if name != absent:
            fake.stub(name)


# --- installing -------------------------------------------------------------------------------------------


def test_the_script_installs_every_package_the_suite_needs() -> None:
    wanted = {package for package in TOOLS.values() if package is not None}
    assert wanted <= set(script_tools().values())


def test_a_package_that_cannot_be_installed_fails_the_run(fake: FakeBin, tmp_path: Path) -> None:
    every_tool_but(fake, "promtool")
    fake.stub("apt-get", '[ "$1" = update ] && exit 0; exit 100')  # "E: Unable to locate package"
    policy = tmp_path / "policy-rc.d"
    done = fake.run("install_tools", CI_POLICY_RC=str(policy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[ci] FAILED: could not install prometheus (apt-get exit 100)" in done.stderr
    assert "apt-get install -y -qq --no-install-recommends prometheus" in fake.logged()
    assert not policy.exists(), "the policy-rc.d written for the install is removed again"


def test_an_install_that_leaves_the_tool_missing_fails_the_run(fake: FakeBin, tmp_path: Path) -> None:
    every_tool_but(fake, "chromium")
    fake.stub("apt-get")  # says it worked, installs nothing
    done = fake.run("install_tools", CI_POLICY_RC=str(tmp_path / "policy-rc.d"))
    assert done.returncode == 1
    assert "[ci] FAILED: still missing after installing chromium: chromium" in done.stderr


def test_a_missing_tool_is_installed_with_services_held_back(fake: FakeBin, tmp_path: Path) -> None:
    every_tool_but(fake, "promtool")
    policy = tmp_path / "policy-rc.d"
    promtool = fake.dir / "promtool"
    fake.stub(
        "apt-get",
        f'[ "$1" = install ] || exit 0\n/bin/cat "{policy}" >> "{fake.calls}"\n'
        f'printf "#!/bin/sh\\n" > "{promtool}" && /bin/chmod 0755 "{promtool}"',
    )
    done = fake.run("install_tools", CI_POLICY_RC=str(policy))
    assert done.returncode == 0, done.stderr
    assert "[ci] installing prometheus" in done.stdout
    assert "exit 101" in fake.logged(), "no service may start while packages install"
    assert not policy.exists()


def test_nothing_is_installed_when_every_tool_is_there(fake: FakeBin) -> None:
    every_tool_but(fake, "")
    fake.stub("apt-get", "exit 100")
    done = fake.run("install_tools")
    assert done.returncode == 0 and fake.logged() == "", done.stderr


# --- starting the databases ---------------------------------------------------------------------------------


def clusters(tmp_path: Path) -> str:
    (tmp_path / "postgresql" / "15").mkdir(parents=True)
    return str(tmp_path / "postgresql")


def test_postgres_that_cannot_be_started_fails_the_run(fake: FakeBin, tmp_path: Path) -> None:
    fake.link("pg_isready", tool("pg_isready"))
    fake.stub("pg_ctlcluster", "exit 1")
    port = str(free_port())  # nothing listens there: "the server is down"
    done = fake.run("start_postgres", CI_PG_PORT=port, CI_PG_CONFDIR=clusters(tmp_path))
    assert done.returncode == 1
    assert "[ci] FAILED: could not start PostgreSQL 15 (pg_ctlcluster exit 1)" in done.stderr
    assert "pg_ctlcluster --skip-systemctl-redirect 15 main start" in fake.logged()


def test_postgres_that_never_answers_fails_the_run(fake: FakeBin, tmp_path: Path) -> None:
    fake.link("pg_isready", tool("pg_isready"))
    fake.stub("pg_ctlcluster")  # "started", yet nothing answers on the port
    port = str(free_port())
    done = fake.run("start_postgres", CI_PG_PORT=port, CI_PG_CONFDIR=clusters(tmp_path))
    assert done.returncode == 1
    assert f"[ci] FAILED: PostgreSQL on 127.0.0.1:{port} does not answer after 2 s" in done.stderr


def test_postgres_without_a_cluster_fails_the_run(fake: FakeBin, tmp_path: Path) -> None:
    fake.link("pg_isready", tool("pg_isready"))
    done = fake.run("start_postgres", CI_PG_PORT=str(free_port()), CI_PG_CONFDIR=str(tmp_path / "none"))
    assert done.returncode == 1 and "has no cluster to start" in done.stderr


def test_mariadb_that_cannot_be_started_fails_the_run(fake: FakeBin) -> None:
    fake.link("mariadb-admin", tool("mariadb-admin"))
    fake.stub("mariadbd")
    fake.stub("start-stop-daemon", "exit 1")
    done = fake.run("start_mariadb", CI_MARIADB_PORT=str(free_port()))
    assert done.returncode == 1
    assert "[ci] FAILED: could not start MariaDB (start-stop-daemon exit 1)" in done.stderr


def test_mariadb_that_never_answers_fails_the_run(fake: FakeBin) -> None:
    fake.link("mariadb-admin", tool("mariadb-admin"))
    fake.stub("mariadbd")
    fake.stub("start-stop-daemon")
    port = str(free_port())
    done = fake.run("start_mariadb", CI_MARIADB_PORT=port)
    assert done.returncode == 1
    assert f"[ci] FAILED: MariaDB on 127.0.0.1:{port} does not answer after 2 s" in done.stderr


def test_running_servers_pass_unchanged(fake: FakeBin) -> None:
    """The positive control: against the servers the suite uses, both steps succeed and start nothing
    (the stand-ins for pg_ctlcluster and start-stop-daemon are never called)."""
    pg, maria = make_url(database_server("postgresql")), make_url(database_server("mariadb"))
    for name in ("pg_isready", "psql", "mariadb-admin", "mariadb"):
        fake.link(name, tool_path(name))
    fake.stub("pg_ctlcluster", "exit 1")
    fake.stub("start-stop-daemon", "exit 1")
    env = {
        "CI_PG_HOST": str(pg.host), "CI_PG_PORT": str(pg.port or 5432),
        "CI_MARIADB_HOST": str(maria.host), "CI_MARIADB_PORT": str(maria.port or 3306),
    }  # fmt: skip
    done = fake.run("start_postgres && start_mariadb", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.logged() == ""


# --- CI=true: a test that cannot run fails ------------------------------------------------------------------

FAILS = "CI=true, so this fails instead of skipping: "

TINY = """
import pytest

def test_on_postgres(postgres_url):
    assert postgres_url.startswith("postgresql")

@pytest.mark.needs_tool("promtool")
def test_with_promtool():
    pass
"""


def tiny_run(tmp_path: Path, ci: str | None, postgres: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on TINY with the suite's conftest (fixtures and the needs_tool hook) as a plugin, a PATH
    without promtool, and MONITOR_TEST_POSTGRES_URL = `postgres`."""
    (tmp_path / "test_tiny.py").write_text(TINY, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    needs_tool: x\n", encoding="utf-8")
    (tmp_path / "empty").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MONITOR_TEST_POSTGRES_URL")}
    env.update(PATH=str(tmp_path / "empty"), PYTHONPATH=str(ROOT / "tests"))
    env.update({"CI": ci} if ci is not None else {})
    env.update({"MONITOR_TEST_POSTGRES_URL": postgres} if postgres is not None else {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "-rfEs",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path / "test_tiny.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_with_ci_an_unreachable_postgres_and_a_missing_tool_fail(tmp_path: Path) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    done = tiny_run(tmp_path, "true", closed)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "2 errors" in out or "1 failed, 1 error" in out or "2 failed" in out, out
    assert "skipped" not in out, out
    assert FAILS + "postgresql at MONITOR_TEST_POSTGRES_URL is unreachable" in out
    assert "Connection refused" in out or "connection failed" in out, out
    assert FAILS + "promtool is not installed (apt-get install prometheus)" in out


def test_with_ci_an_unset_database_url_fails(tmp_path: Path) -> None:
    done = tiny_run(tmp_path, "true", None)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert FAILS + "MONITOR_TEST_POSTGRES_URL is not set" in out


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_they_skip_and_say_why(tmp_path: Path, ci: str | None) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    done = tiny_run(tmp_path, ci, closed)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "2 skipped" in out, out
    assert "SKIPPED" in out and "postgresql at MONITOR_TEST_POSTGRES_URL is unreachable" in out
    assert "promtool is not installed (apt-get install prometheus)" in out
