"""The command line against bad luck: a reader that stops early, a database URL that names a directory or
a garbage file or nothing reachable, an import file that never ends. Each is a clear message and an exit
code, never a traceback. The pipe cases run the console script as a subprocess (a real pipe closed early).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_config

from monitor.cli import main
from monitor.registry.importfile import MAX_LINE

SCRIPT = Path(sys.executable).parent / "threads-token-monitor"


def run(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--config", str(config), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(scope="module")
def big_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry of 2,000 tokens (never checked): listings far longer than a pipe's buffer."""
    where = tmp_path_factory.mktemp("big")
    config = write_config(
        where / "config.toml", f"sqlite:///{where / 'monitor.sqlite3'}", where / "secret.key"
    )
    rows = "name,app,token\n" + "".join(f"tok-{n:05d},acme,THQWJ-pipe-{n:05d}-x\n" for n in range(2000))
    (where / "tokens.csv").write_text(rows, encoding="utf-8")
    steps = [
        ["init"],
        ["apps", "add", "acme", "--inspector-token-env", "INSPECTOR"],
        ["tokens", "import", str(where / "tokens.csv")],
    ]
    for args in steps:
        done = subprocess.run(
            [str(SCRIPT), "--config", str(config), *args], capture_output=True, env={"INSPECTOR": "INSP-x"}
        )
        assert done.returncode == 0, done.stderr
    return config


@pytest.mark.parametrize("command", [["tokens", "list"], ["status"], ["tokens", "list", "--json"]])
def test_a_reader_that_stops_early_is_no_error(big_registry: Path, command: list[str]) -> None:
    """`... | head -1`: the first line, then the reader leaves; the command ends quietly, exit 0."""
    proc = subprocess.Popen(
        [str(SCRIPT), "--config", str(big_registry), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert first and err == ""


def test_a_database_url_naming_a_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "db").mkdir()
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'db'}", tmp_path / "k")
    code, _, err = run(capsys, config, "config", "check")
    assert code == 2 and "database.url: " in err and "is a directory" in err
    code, _, err = run(capsys, config, "status")
    assert code == 2 and "database.url: " in err and "is a directory" in err


def test_a_garbage_sqlite_file_says_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "garbage.sqlite3").write_bytes(b"this is not a database, just some text\n" * 200)
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'garbage.sqlite3'}", tmp_path / "k")
    for command in (["status"], ["tokens", "list"], ["init"]):
        code, _, err = run(capsys, config, *command)
        assert code == 1, command
        assert "database.url: " in err and "not a database" in err, err
        assert f"{tmp_path / 'garbage.sqlite3'}" in err


def test_an_unreachable_database_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://monitor:pw-THAA-secret@127.0.0.1:1/monitor?connect_timeout=5"
    config = write_config(tmp_path / "c.toml", url, tmp_path / "k")
    code, _, err = run(capsys, config, "status")
    assert code == 1 and "database.url: " in err and "pw-THAA-secret" not in err


def test_an_endless_import_file_is_refused_at_its_first_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/dev/zero: no line ever ends. The import reads a line's worth and stops, naming the line."""
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path / "k")
    assert run(capsys, config, "init")[0] == 0
    code, _, err = run(capsys, config, "tokens", "import", "/dev/zero")
    assert code == 2 and "line 1" in err and f"longer than {MAX_LINE}" in err
    good = '{"name": "a", "app": "acme", "token": "THQWJ-abc-1"}\n'
    (tmp_path / "long.jsonl").write_text(good + "x" * (MAX_LINE + 10) + "\n", encoding="utf-8")
    code, _, err = run(capsys, config, "tokens", "import", str(tmp_path / "long.jsonl"))
    assert code == 2 and "line 2" in err
    (tmp_path / "nul.csv").write_bytes(b"name,app,token\nx\0y,acme,THQWJ-abc-1\n")
    code, _, err = run(capsys, config, "tokens", "import", str(tmp_path / "nul.csv"))
    assert code == 2 and "line 2" in err and "NUL" in err


def test_an_endless_secret_file_is_refused_not_read_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--token-file /dev/zero` (and every other secret file): read bounded, refused with a message."""
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path / "k")
    assert run(capsys, config, "init")[0] == 0
    code, _, err = run(capsys, config, "apps", "add", "acme", "--inspector-token-file", "/dev/zero")
    assert code == 2 and "cannot read inspector credential file /dev/zero" in err
    assert "Traceback" not in err
