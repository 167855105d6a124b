"""What users install is what we test: the sdist and the wheel, built, checked, installed as the README says.

One module-scoped build: the tracked files (as a fresh clone has them) are copied to a temporary directory,
`python -m build` makes the sdist and then the wheel from that sdist, `twine check --strict` reads both, and
the wheel is installed into a new virtualenv. Everything after that runs the installed console script from a
temporary directory, with the source tree nowhere on `sys.path`: `--version`, `init`, `apps add`,
`tokens add`, `check` against `python -m monitor.simulator` (also from the installed package), and the
systemd unit's own `ExecStartPre=`/`ExecStart=` lines with `/opt/threads-token-monitor` swapped for the test
virtualenv and `/etc/threads-token-monitor` for a directory holding the config from docs/systemd.md.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "threads-token-monitor.service"
GUIDE = ROOT / "docs" / "systemd.md"
PREFIX, CONFDIR, STATEDIR = (
    "/opt/threads-token-monitor",
    "/etc/threads-token-monitor",
    "/var/lib/threads-token-monitor",
)
APP_ID, INSPECTOR, TOKEN = "777", "INSPECTOR-PACKAGING", "TOKEN-PACKAGING-HEALTHY"
ROTATED = "TOKEN-PACKAGING-ROTATED"  # the string `tokens set-token` stores in the day-2 round
INSTALL_TIMEOUT = 600  # dependencies come from the package index (or pip's cache) as they do for users

pytestmark = pytest.mark.needs_tool("git")  # lists the tracked files


def tracked(*patterns: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


@dataclass(frozen=True)
class Artifacts:
    sdist: Path
    wheel: Path
    commit: str  # of the checkout they were built from


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path  # a directory with no source tree in it: every command runs from here

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "threads-token-monitor"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "THREADS_TOKEN_MONITOR"))}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}

    def python_prints(self, code: str) -> str:
        """What `code` prints, run by the installed interpreter from the workdir (no source tree)."""
        done = subprocess.run(
            [str(self.python), "-c", code], cwd=self.workdir, env=self.env(), capture_output=True, text=True
        )
        assert done.returncode == 0, f"{code}: exit {done.returncode}\n{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """sdist and wheel from the tracked files only, the wheel from the sdist (`python -m build`)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in tracked():
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    # A checkout of its own, so the build finds a commit to write into the package (monitor/REVISION).
    git = ["git", "-C", str(tree), "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "packaging test"]):
        subprocess.run([*git, *args], check=True, capture_output=True, timeout=120)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True, timeout=60)
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend comes from the test extras instead of a download per run.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return Artifacts(sdist, wheel, head.stdout.strip())


@pytest.fixture(scope="module")
def installed(artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel installed into a new virtualenv, the way docs/systemd.md step 1 does it."""
    venv = tmp_path_factory.mktemp("opt") / "threads-token-monitor"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(artifacts.wheel)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Installed(venv, tmp_path_factory.mktemp("elsewhere"))


def test_twine_accepts_both_artifacts(artifacts: Artifacts) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(artifacts.sdist), str(artifacts.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_pypi_description_is_the_readme_without_what_pypi_cannot_show(artifacts: Artifacts) -> None:
    """PyPI renders no relative path: the long description is README.md with its relative images removed
    and its relative links reduced to their text; everything else is the README's."""
    with zipfile.ZipFile(artifacts.wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(name).decode("utf-8")
    assert "Description-Content-Type: text/markdown" in metadata
    description = metadata.split("\n\n", 1)[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"!\[[^\]]*\]\(docs/", readme) and "](docs/" in readme  # what there is to remove
    assert not re.search(r"\]\((?![a-z][a-z0-9+.-]*:|#)", description), "a relative link or image is left"
    assert "<!-- install -->" in description and "make demo" in description
    assert "[A tour of the demo](docs/demo.md)" in readme and "| A tour of the demo |" in description


def expected_modules() -> set[str]:
    """Every tracked module, where the wheel must put it (migrations/ ships as monitor/migrations)."""
    names = set(tracked("monitor/**.py", "monitor/*.py"))
    names |= {"monitor/" + name for name in tracked("migrations/**.py", "migrations/*.py")}
    return names


def test_wheel_contains_every_module_of_the_tree(artifacts: Artifacts) -> None:
    with zipfile.ZipFile(artifacts.wheel) as whl:
        files = set(whl.namelist())
    expected = expected_modules()
    assert "monitor/commands/__init__.py" in expected  # the module whose absence once broke every install
    assert expected - files == set(), "modules of the tree missing from the wheel"
    assert {f for f in files if f.endswith(".py")} - expected == set(), (
        "modules in the wheel that git does not track"
    )
    assert {
        "monitor/py.typed",
        "monitor/migrations/script.py.mako",
        "monitor/config/config.schema.json",
        "monitor/config/config.example.toml",
    } <= files


def test_sdist_holds_what_the_guides_use(artifacts: Artifacts) -> None:
    """The sdist is a source release: package, migrations, unit files, example config and docs."""
    with tarfile.open(artifacts.sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        files = {name.removeprefix(top + "/") for name in tar.getnames()}
    wanted = set(tracked("monitor", "migrations", "systemd", "docs", "deploy"))
    wanted |= {
        "config.example.toml",
        "config.schema.json",
        "pyproject.toml",
        "setup.py",
        "MANIFEST.in",
        "mkdocs.yml",
        "README.md",
        "CHANGELOG.md",
    }
    assert wanted - files == set()


def run(installed: Installed, *argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(installed.script), *argv],
        cwd=installed.workdir,
        env=env or installed.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_installed_package_is_not_the_source_tree(installed: Installed) -> None:
    where = installed.python_prints("import monitor, sys; print(monitor.__file__); print(sys.path)")
    module_file, path = where.splitlines()
    assert Path(module_file).is_relative_to(installed.venv)
    assert str(ROOT) not in path


def test_the_installed_package_knows_the_commit_it_was_built_from(
    artifacts: Artifacts, installed: Installed
) -> None:
    """setup.py writes the commit into the sdist (REVISION) and from there into the wheel; build_info's
    `revision` reads it back."""
    with tarfile.open(artifacts.sdist) as sdist:
        stored = [name for name in sdist.getnames() if name.endswith("/REVISION")]
    assert len(stored) == 1, stored
    revision = installed.python_prints("from monitor.metrics.runtime import build_revision as b; print(b())")
    revision = revision.strip()
    assert revision == artifacts.commit and re.fullmatch(r"[0-9a-f]{40}", revision)


def test_version_from_the_script_and_from_python_m(installed: Installed) -> None:
    from_script = run(installed, "--version").strip()
    assert re.fullmatch(r"threads-token-monitor \d+\.\d+\.\d+\S*", from_script), from_script
    from_module = subprocess.run(
        [str(installed.python), "-m", "monitor", "--version"],
        cwd=installed.workdir,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert from_module == from_script


def test_config_schema_ships_and_the_command_prints_it(artifacts: Artifacts, installed: Installed) -> None:
    """Editors find config.schema.json in the package; `config schema` prints that very text."""
    with zipfile.ZipFile(artifacts.wheel) as whl:
        shipped = whl.read("monitor/config/config.schema.json").decode("utf-8")
    assert run(installed, "config", "schema") == shipped
    assert shipped == (ROOT / "config.schema.json").read_text(encoding="utf-8")
    assert json.loads(shipped)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def guide_config() -> str:
    """The config.toml of docs/systemd.md step 4, verbatim."""
    text = GUIDE.read_text(encoding="utf-8")
    step = text.split("## 4. Configure", 1)[1]
    match = re.search(r"```toml\n(.*?)```", step, re.S)
    assert match, "docs/systemd.md step 4 has no toml block"
    return match.group(1)


def unit_command(key: str) -> list[str]:
    """The unit's `key=` command line, split as systemd splits it."""
    lines = [
        line.split("=", 1)[1]
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith(key + "=")
    ]
    assert len(lines) == 1, f"expected one {key}= line in {UNIT.name}"
    return shlex.split(lines[0])


@dataclass
class Server:
    """A deployment laid out as the guide lays it out, under temporary directories."""

    installed: Installed
    confdir: Path
    statedir: Path
    http_port: int

    def swap(self, argv: list[str]) -> list[str]:
        return [
            arg.replace(PREFIX, str(self.installed.venv)).replace(CONFDIR, str(self.confdir)) for arg in argv
        ]

    def env(self) -> dict[str, str]:
        # As the unit gives it: LoadCredential= copies secret.key into $CREDENTIALS_DIRECTORY.
        return self.installed.env(
            CREDENTIALS_DIRECTORY=str(self.confdir), SLACK_WEBHOOK_URL="http://127.0.0.1:9/"
        )


@pytest.fixture
def simulator(installed: Installed, tmp_path: Path) -> Iterator[str]:
    """`python -m monitor.simulator` from the installed package, with one app and one healthy token."""
    now = time.time()
    fixture = {
        "apps": [{"app_id": APP_ID, "inspector": INSPECTOR}],
        "tokens": [
            {"token": t, "app_id": APP_ID, "expires_at": now + 50 * 86400, "issued_at": now - 3600}
            for t in (TOKEN, ROTATED)
        ],
    }
    (tmp_path / "sim.json").write_text(json.dumps(fixture), encoding="utf-8")
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen(
        [str(installed.python), "-m", "monitor.simulator", "--port", "0", "--port-file", str(port_file),
         "--tokens", str(tmp_path / "sim.json")],
        cwd=installed.workdir,
        env=installed.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: port_file.exists() or proc.poll() is not None, 30, "the simulator to bind")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield f"http://127.0.0.1:{port_file.read_text(encoding='utf-8')}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server(installed: Installed, simulator: str, tmp_path: Path) -> Server:
    confdir, statedir = tmp_path / "etc", tmp_path / "var-lib"
    confdir.mkdir()
    statedir.mkdir(mode=0o700)
    port = free_port()
    config = guide_config().replace(STATEDIR, str(statedir)).replace("127.0.0.1:9469", f"127.0.0.1:{port}")
    # The guide's file talks to graph.threads.net; here the installed simulator plays the API.
    config += f'\n[threads]\nbase_url = "{simulator}"\n'
    (confdir / "config.toml").write_text(config, encoding="utf-8")
    return Server(installed, confdir, statedir, port)


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def test_installed_script_registers_checks_and_runs_as_the_unit_does(server: Server) -> None:
    cfg = ["--config", str(server.confdir / "config.toml")]
    env = server.env()
    run(server.installed, *cfg, "init", env=env)
    key = server.confdir / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (server.statedir / "monitor.sqlite3").exists()

    pre = server.swap(unit_command("ExecStartPre"))
    assert pre[0] == str(server.installed.script), "ExecStartPre= must run the installed console script"
    done = subprocess.run(
        pre, cwd=server.installed.workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    run(server.installed, *cfg, "apps", "add", "growth", "--app-id", APP_ID, "--inspector-token-stdin",
        stdin=INSPECTOR + "\n", env=env)  # fmt: skip
    run(server.installed, *cfg, "tokens", "add", "acme", "--app", "growth", "--token-stdin",
        stdin=TOKEN + "\n", env=env)  # fmt: skip
    checked = json.loads(run(server.installed, *cfg, "check", "acme", "--json", env=env))
    assert [row["name"] for row in checked["checked"]] == ["acme"]
    assert checked["checked"][0]["state"] == "ok"
    assert checked["checked"][0]["last_result"] == "valid"
    assert TOKEN not in json.dumps(checked) and INSPECTOR not in json.dumps(checked)
    day_two(server, cfg, env)
    backup = server.statedir / "backup.sqlite3"
    backed_up = run(server.installed, "backup", str(backup), *cfg, env=env)  # the option after the command
    assert "1 token(s)" in backed_up and "the key file is needed too" in backed_up

    start = server.swap(unit_command("ExecStart"))
    proc = subprocess.Popen(start, cwd=server.installed.workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_until(
            lambda: healthz(server.http_port) == 200 or proc.poll() is not None, 60, "/healthz to answer 200"
        )
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert TOKEN not in err.decode() and INSPECTOR not in err.decode()


def test_the_installed_config_check_refuses_what_cannot_work(installed: Installed) -> None:
    """Exit 2 and the key named, never a traceback: deep nesting, a database URL without its driver or
    naming a directory, a weak API token."""
    workdir = installed.workdir
    cases = {
        "deep.toml": ("x = " + "[" * 600 + "]" * 600 + "\n", "nested too deeply"),
        "mysql.toml": ('[database]\nurl = "mysql://root@db.example/m"\n', "database.url: "),
        "dir.toml": (f'[database]\nurl = "sqlite:///{workdir}"\n', "is a directory"),
        "token.toml": ('[callbacks]\napi_token = "x"\n', "callbacks.api_token: must be at least 32"),
    }
    for name, (text, expected) in cases.items():
        (workdir / name).write_text(text, encoding="utf-8")
        done = subprocess.run(
            [str(installed.script), "--config", name, "config", "check"],
            cwd=workdir, env=installed.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2 and expected in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
    assert "mysql+pymysql://" in subprocess.run(
        [str(installed.script), "--config", "mysql.toml", "config", "check"],
        cwd=workdir, env=installed.env(), capture_output=True, text=True, timeout=120,
    ).stderr  # fmt: skip


def test_the_installed_handbook_commands(artifacts: Artifacts, installed: Installed) -> None:
    """What a user of the wheel has without the source tree: the example config (and it passes its check in
    the environment its header names), a minimal config of their own, completion, version, a new key, and
    "did you mean"."""
    with zipfile.ZipFile(artifacts.wheel) as whl:
        shipped = whl.read("monitor/config/config.example.toml").decode("utf-8")
    assert run(installed, "config", "example") == shipped == (ROOT / "config.example.toml").read_text("utf-8")
    example = installed.workdir / "example.toml"
    example.write_text(shipped, encoding="utf-8")
    checked = run(
        installed, "config", "check", str(example), env=installed.env(SLACK_WEBHOOK_URL="https://x/y")
    )
    assert checked.startswith(f"{example}: OK")
    mine = installed.workdir / "mine" / "config.toml"
    assert "next steps:" in run(installed, "config", "init", str(mine))
    assert run(installed, "config", "check", "-c", str(mine)) == f"{mine}: OK (1 notifier, 0 sources)\n"
    assert "_shtab_threads_token_monitor" in run(installed, "completion", "bash")
    assert "complete -c threads-token-monitor" in run(installed, "completion", "fish")
    info = json.loads(run(installed, "version", "--json"))
    assert run(installed, "--version").strip() == f"threads-token-monitor {info['version']}"
    assert info["revision"] is None  # a wheel built from a tree: pip recorded no source revision
    assert len(run(installed, "keys", "generate").strip()) == 44
    done = subprocess.run(
        [str(installed.script), "tokens", "lst"],
        cwd=installed.workdir, env=installed.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "did you mean 'list'?" in done.stderr


def day_two(server: Server, cfg: list[str], env: dict[str, str]) -> None:
    """The day-2 commands of SPEC 15 from the installed script: relabel, replace the string (checked at
    once, history kept), mute, list alerts, filter status, a dry-run import from stdin, a new inspector."""
    inst = server.installed
    assert "team=growth" in run(inst, *cfg, "tokens", "label", "acme", "team=growth", env=env)
    replaced = run(inst, *cfg, "tokens", "set-token", "acme", "--token-stdin", stdin=ROTATED + "\n", env=env)
    assert "checked: ok" in replaced and ROTATED not in replaced
    history = json.loads(run(inst, *cfg, "tokens", "history", "acme", "--json", env=env))
    assert [r["result"] for r in history if r["kind"] == "change"] == ["replaced", "labels"]
    assert "muted token acme" in run(inst, *cfg, "tokens", "mute", "acme", "--for", "1d", env=env)
    (row,) = json.loads(
        run(inst, *cfg, "status", "--state", "ok", "--label", "team=growth", "--json", env=env)
    )
    assert row["name"] == "acme" and row["muted_until"]
    assert json.loads(run(inst, *cfg, "alerts", "list", "--json", env=env)) == []
    csv = f"name,app,token\nacme,growth,{TOKEN}\nbeta,growth,{TOKEN}-beta\n"
    dry = json.loads(
        run(inst, *cfg, "tokens", "import", "-", "--replace", "--dry-run", "--json", stdin=csv, env=env)
    )
    assert (dry["added"], dry["replaced"], dry["imported"]) == (1, 1, 0)
    inspector = run(
        inst, *cfg, "apps", "set-inspector", "growth", "--inspector-token-stdin", stdin=INSPECTOR, env=env
    )
    assert "the inspector credential works" in inspector and INSPECTOR not in inspector
