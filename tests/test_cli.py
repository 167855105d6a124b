"""Every registry command through `monitor.cli.main`: its output, its exit code, bad input refused cleanly.

Bad input must exit 2 with a message naming the problem and leave the database exactly as it was; runtime
failures exit 1 without a traceback. A few tests go through the installed console script to prove the install.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_config
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert, select, text

from monitor.cli import main
from monitor.crypto import Vault, fingerprint
from monitor.db import migrate
from monitor.db.models import App, Base, Snapshot, Token

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "threads-token-monitor"
HEAD = migrate.head_revision()


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs `main([--config PATH, ...])` in-process with stdin and environment under the test's control."""

    def __init__(
        self,
        config: Path,
        url: str,
        key: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.config, self.url, self.key = config, url, key
        self._capsys, self._monkeypatch = capsys, monkeypatch

    def __call__(self, *args: str, stdin: str = "", config: Path | None = None) -> Result:
        self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(["--config", str(config or self.config), *args])
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self._capsys.readouterr()
        return Result(code, out, err)

    def ok(self, *args: str, stdin: str = "") -> Result:
        result = self(*args, stdin=stdin)
        assert result.code == 0, result
        return result

    def dump(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table: compared before and after a refused command."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return {
                    name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for name, table in sorted(Base.metadata.tables.items())
                }
        finally:
            engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    url = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    key = tmp_path / "keys" / "secret.key"
    return Cli(write_config(tmp_path / "config.toml", url, key), url, key, capsys, monkeypatch)


@pytest.fixture(scope="module")
def ready_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised registry (app `acme`, token `t1`) per module, built by the commands themselves."""
    where = tmp_path_factory.mktemp("ready")
    config = write_config(
        where / "config.toml", f"sqlite:///{where / 'monitor.sqlite3'}", where / "secret.key"
    )
    steps = [
        (["init"], ""),
        (["apps", "add", "acme", "--inspector-token-stdin"], "INSPECTOR-acme-1\n"),
        (["tokens", "add", "t1", "--app", "acme", "--token-stdin"], "THQWJ-t1-secret\n"),
    ]
    with pytest.MonkeyPatch.context() as mp:
        for args, stdin in steps:
            mp.setattr(sys, "stdin", io.StringIO(stdin))
            assert main(["--config", str(config), *args]) == 0, args
    assert not (where / "monitor.sqlite3-wal").exists()  # checkpointed on close: the one file is everything
    return where


@pytest.fixture
def ready(cli: Cli, ready_template: Path) -> Cli:
    """Initialised, with app `acme` and token `t1`: a copy of the module's template."""
    cli.key.parent.mkdir(parents=True)
    shutil.copy2(ready_template / "secret.key", cli.key)
    shutil.copy2(ready_template / "monitor.sqlite3", cli.url.removeprefix("sqlite:///"))
    return cli


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out


# --- init, migrate ----------------------------------------------------------------------------------


def test_init_creates_a_0600_key_file_and_migrates_and_is_idempotent(cli: Cli) -> None:
    first = cli.ok("init")
    assert f"created key file {cli.key}" in first.out and f"database migrated to {HEAD}" in first.out
    assert stat.S_IMODE(cli.key.stat().st_mode) == 0o600
    Fernet(cli.key.read_bytes().strip())  # a valid Fernet key
    key = cli.key.read_bytes()
    second = cli.ok("init")
    assert "exists, kept" in second.out
    assert cli.key.read_bytes() == key
    assert cli.ok("status").out.startswith("no tokens registered")


def test_init_refuses_a_malformed_key_file(cli: Cli) -> None:
    cli.key.parent.mkdir()
    cli.key.write_text("not-a-key\n")
    result = cli("init")
    assert (
        result.code == 1 and "does not hold a valid Fernet key" in result.err and str(cli.key) in result.err
    )
    no_traceback(result)


def test_migrate_applies_and_reports_revision(cli: Cli) -> None:
    assert cli.ok("migrate").out.strip() == f"database at {HEAD} (was empty)"
    assert cli.ok("migrate").out.strip() == f"database at {HEAD}"


def test_commands_on_an_unmigrated_database_say_run_migrate(cli: Cli) -> None:
    for args in (["status"], ["apps", "list"], ["tokens", "list"]):
        result = cli(*args)
        assert result.code == 1 and "run `threads-token-monitor migrate`" in result.err, args
        no_traceback(result)


# --- apps -------------------------------------------------------------------------------------------


def test_apps_add_from_stdin_env_and_app_secret(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("init")
    out = cli.ok("apps", "add", "a-stdin", "--inspector-token-stdin", stdin="  INSPECTOR-one  \n").out
    assert f"fingerprint {fingerprint('INSPECTOR-one')}" in out
    monkeypatch.setenv("INSPECTOR_VAR", "INSPECTOR-two")
    cli.ok("apps", "add", "a-env", "--inspector-token-env", "INSPECTOR_VAR")
    monkeypatch.setenv("APP_SECRET", "abcdef0123456789abcdef0123456789")
    added = json.loads(
        cli.ok("apps", "add", "a-app", "--app-id", "1234", "--app-secret-env", "APP_SECRET", "--json").out
    )
    assert added == {
        "name": "a-app",
        "threads_app_id": "1234",
        "inspector_kind": "app_token",
        "inspector_fingerprint": fingerprint("TH|1234|abcdef0123456789abcdef0123456789"),
        "inspector_state": None,
        "inspector_reason": None,
        "callback_secret": True,  # an app token carries the secret that signs the app's callbacks
        "tokens": 0,
    }
    listed = json.loads(cli.ok("apps", "list", "--json").out)
    assert [(a["name"], a["inspector_kind"], a["inspector_fingerprint"]) for a in listed] == [
        ("a-app", "app_token", fingerprint("TH|1234|abcdef0123456789abcdef0123456789")),
        ("a-env", "user_token", fingerprint("INSPECTOR-two")),
        ("a-stdin", "user_token", fingerprint("INSPECTOR-one")),
    ]
    table = cli.ok("apps", "list").out.splitlines()
    assert table[0].split()[:3] == ["NAME", "THREADS", "APP"] and len(table) == 4
    assert "not used yet" in table[1]


def test_app_secrets_for_callbacks_are_stored_encrypted(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A tester-token app gets the secret that verifies its deauthorize callbacks at `apps add` or later
    with `apps set-secret`, from a variable, a file or stdin; only its ciphertext is stored."""
    from monitor.callbacks.store import app_secret
    from monitor.config.load import load_config
    from monitor.context import Context

    cli.ok("init")
    monkeypatch.setenv("INSPECTOR_VAR", "INSPECTOR-two")
    monkeypatch.setenv("APP_SECRET", "secret-from-env-0123")
    cli.ok("apps", "add", "a-env", "--inspector-token-env", "INSPECTOR_VAR", "--app-secret-env", "APP_SECRET")
    cli.ok("apps", "add", "a-later", "--inspector-token-env", "INSPECTOR_VAR")
    listed = {a["name"]: a["callback_secret"] for a in json.loads(cli.ok("apps", "list", "--json").out)}
    assert listed == {"a-env": True, "a-later": False}
    table = cli.ok("apps", "list").out.splitlines()
    assert table[0].split()[-1] == "CALLBACKS" and table[2].endswith("refused: no app secret")
    (tmp_path / "app-secret").write_text("secret-from-file-4567\n", encoding="utf-8")
    out = cli.ok("apps", "set-secret", "a-later", "--app-secret-file", str(tmp_path / "app-secret")).out
    assert "stored the app secret of a-later" in out and "secret-from" not in out
    ctx = Context(load_config(cli.config))
    with ctx.sessions() as s:
        assert app_secret(s, ctx.vault, "a-env") == "secret-from-env-0123"
        assert app_secret(s, ctx.vault, "a-later") == "secret-from-file-4567"
        assert app_secret(s, ctx.vault, "missing") is None
        stored = s.scalars(select(App.callback_secret)).all()
    assert all(c and "secret-from" not in c for c in stored)
    cli.ok("apps", "set-secret", "a-later", "--app-secret-stdin", stdin="secret-from-stdin-89\n")
    with ctx.sessions() as s:
        assert app_secret(s, ctx.vault, "a-later") == "secret-from-stdin-89"
    ctx.close()
    assert cli("apps", "set-secret", "nope", "--app-secret-env", "APP_SECRET").code == 2
    for bad, says in {
        "short-secret": "shorter than 16 characters",
        " secret-from-env-0123": "begins or ends with whitespace",
        "secret-from-env-0123 \n": "begins or ends with whitespace",
        "\n": "empty",
    }.items():
        monkeypatch.setenv("BAD_SECRET", bad)
        refused = cli("apps", "set-secret", "a-later", "--app-secret-env", "BAD_SECRET")
        assert (
            refused.code == 2 and says in refused.err and (not bad.strip() or bad.strip() not in refused.err)
        )
        refused = cli("apps", "add", "a-bad", "--app-id", "77", "--app-secret-env", "BAD_SECRET")
        assert refused.code == 2 and says in refused.err
    with ctx.sessions() as s:
        assert app_secret(s, ctx.vault, "a-later") == "secret-from-stdin-89"  # nothing refused was stored
    ctx.close()
    assert cli("apps", "add", "bare").code == 2  # neither a tester token nor an app id and secret


def test_apps_list_empty(cli: Cli) -> None:
    cli.ok("init")
    assert "no apps registered" in cli.ok("apps", "list").out
    assert json.loads(cli.ok("apps", "list", "--json").out) == []


def test_apps_remove_is_refused_while_tokens_exist_unless_cascade(ready: Cli) -> None:
    before = ready.dump()
    refused = ready("apps", "remove", "acme")
    assert refused.code == 2 and "still has 1 token(s)" in refused.err and "--cascade" in refused.err
    assert ready.dump() == before
    assert ready.ok("apps", "remove", "acme", "--cascade").out.strip() == "removed app acme and 1 token(s)"
    assert json.loads(ready.ok("apps", "list", "--json").out) == []
    assert json.loads(ready.ok("tokens", "list", "--json").out) == []
    ready.ok("apps", "add", "empty", "--inspector-token-stdin", stdin="INSPECTOR-x")
    assert ready.ok("apps", "remove", "empty").out.strip() == "removed app empty"


# --- tokens -----------------------------------------------------------------------------------------


def test_tokens_add_from_stdin_env_and_file_with_labels(
    ready: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_VAR", "THQWJ-env-secret")
    (tmp_path / "tok.txt").write_text("THQWJ-file-secret\n")
    out = ready.ok("tokens", "add", "t-env", "--app", "acme", "--token-env", "TOKEN_VAR").out
    assert out.startswith("added token t-env (app acme, fingerprint ") and "first check is due now" in out
    added = json.loads(
        ready.ok(
            "tokens",
            "add",
            "t-file",
            "--app",
            "acme",
            "--token-file",
            str(tmp_path / "tok.txt"),
            "--label",
            "team=growth",
            "--label",
            "env = prod",
            "--auto-refresh",
            "--json",
        ).out
    )
    assert added["name"] == "t-file" and added["app"] == "acme"
    assert added["fingerprint"] == fingerprint("THQWJ-file-secret")  # the trailing newline is not part of it
    assert added["labels"] == {"team": "growth", "env": "prod"}
    assert added["auto_refresh"] is True and added["source"] is None and added["last_check_at"] is None
    assert added["created_at"].endswith("Z")
    assert ready.ok("tokens", "export", "t-env").out == "THQWJ-env-secret\n"
    assert ready.ok("tokens", "export", "t1").out == "THQWJ-t1-secret\n"


def test_tokens_list_table_json_and_app_filter(ready: Cli) -> None:
    ready.ok("apps", "add", "other", "--inspector-token-stdin", stdin="INSPECTOR-o")
    ready.ok("tokens", "add", "t2", "--app", "other", "--token-stdin", "--label", "team=a", stdin="THQWJ-t2")
    rows = json.loads(ready.ok("tokens", "list", "--json").out)
    assert [(r["name"], r["app"], r["labels"]) for r in rows] == [
        ("t1", "acme", {}),
        ("t2", "other", {"team": "a"}),
    ]
    assert [r["name"] for r in json.loads(ready.ok("tokens", "list", "--app", "other", "--json").out)] == [
        "t2"
    ]
    lines = ready.ok("tokens", "list").out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "APP",
        "FINGERPRINT",
        "LABELS",
        "AUTO-REFRESH",
        "SOURCE",
        "LAST",
        "CHECK",
    ]
    assert lines[1].split()[:2] == ["t1", "acme"] and lines[1].endswith("never checked")
    assert "team=a" in lines[2]


def test_tokens_list_empty(cli: Cli) -> None:
    cli.ok("init")
    assert "no tokens registered" in cli.ok("tokens", "list").out
    assert json.loads(cli.ok("tokens", "list", "--json").out) == []


def test_tokens_remove(ready: Cli) -> None:
    assert ready.ok("tokens", "remove", "t1").out.strip() == "removed token t1"
    assert json.loads(ready.ok("tokens", "list", "--json").out) == []
    gone = ready("tokens", "remove", "t1")
    assert gone.code == 2 and "no token named 't1'" in gone.err


def test_tokens_auto_refresh_switch(ready: Cli) -> None:
    assert ready.ok("tokens", "auto-refresh", "t1", "on").out.strip() == "automatic refresh of t1 is on"
    assert json.loads(ready.ok("tokens", "list", "--json").out)[0]["auto_refresh"] is True
    ready.ok("tokens", "auto-refresh", "t1", "off")
    assert json.loads(ready.ok("tokens", "list", "--json").out)[0]["auto_refresh"] is False
    assert ready("tokens", "auto-refresh", "t1", "maybe").code == 2


def test_tokens_history_never_checked_then_newest_first(ready: Cli) -> None:
    assert ready.ok("tokens", "history", "t1").out.strip() == "t1: never checked"
    assert json.loads(ready.ok("tokens", "history", "t1", "--json").out) == []
    engine = create_engine(ready.url)
    with engine.begin() as conn:
        token_id = conn.scalar(select(Token.id).where(Token.name == "t1"))
        conn.execute(
            insert(Snapshot).values(
                token_id=token_id,
                observed_at=1_800_000_000.0,
                result="valid",
                fingerprint="f1",
                is_valid=True,
                expires_at=1_805_000_000.0,
                scopes="threads_basic threads_read_replies",
            )
        )
        conn.execute(
            insert(Snapshot).values(
                token_id=token_id,
                observed_at=1_800_003_600.0,
                result="invalid",
                reason="expired",
                fingerprint="f1",
                is_valid=False,
                error_code=190,
                error_subcode=463,
            )
        )
    engine.dispose()
    rows = json.loads(ready.ok("tokens", "history", "t1", "--json").out)
    assert [(r["result"], r["reason"], r["error_subcode"]) for r in rows] == [
        ("invalid", "expired", 463),
        ("valid", None, None),
    ]
    assert rows[1]["scopes"] == ["threads_basic", "threads_read_replies"]
    assert rows[1]["expires_at"] == "2027-03-14T04:53:20Z"
    assert len(json.loads(ready.ok("tokens", "history", "t1", "--limit", "1", "--json").out)) == 1
    table = ready.ok("tokens", "history", "t1").out.splitlines()
    assert table[0].startswith("OBSERVED") and "expired" in table[1] and "threads_basic" in table[2]
    assert ready("tokens", "history", "nope").code == 2


def test_status_never_checked_and_json(ready: Cli) -> None:
    lines = ready.ok("status").out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "APP"] and "STATE" in lines[0].split()
    assert lines[1].split()[:2] == ["t1", "acme"] and "never checked" in lines[1]
    rows = json.loads(ready.ok("status", "--json").out)
    assert len(rows) == 1
    expected: dict[str, object] = {
        "name": "t1",
        "app": "acme",
        "state": "unchecked",
        "expires_at": None,
        "data_access_expires_at": None,
        "last_check_at": None,
        "last_result": None,
        "last_error": None,
        "scopes": [],
        "source": None,
        "reason": None,
    }
    assert {key: rows[0].get(key) for key in expected} == expected


def test_status_of_named_tokens(ready: Cli) -> None:
    assert [r["name"] for r in json.loads(ready.ok("status", "t1", "--json").out)] == ["t1"]
    missing = ready("status", "t1", "nope")
    assert missing.code == 1 and "no token named 'nope'" in missing.err and "t1" in missing.out


def test_main_can_run_many_times_in_one_process(ready: Cli) -> None:
    # build_parser() used to re-register the optional command modules on every call ("conflicting subparser").
    for _ in range(3):
        ready.ok("apps", "list")


# --- keys rotate ------------------------------------------------------------------------------------


def _secrets(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = list(conn.scalars(select(Token.secret))) + list(conn.scalars(select(App.inspector_secret)))
    engine.dispose()
    return out


def test_keys_rotate_reencrypts_everything_with_the_newest_key(ready: Cli, tmp_path: Path) -> None:
    ready.ok("tokens", "add", "t2", "--app", "acme", "--token-stdin", stdin="THQWJ-t2-secret")
    new_key = tmp_path / "keys" / "new.key"
    new_key.write_bytes(Fernet.generate_key())
    new_key.chmod(0o600)
    both = tmp_path / "both.toml"
    both.write_text(
        f'[database]\nurl = "{ready.url}"\n[security]\nkey_files = ["{new_key}", "{ready.key}"]\n'
    )
    only_new = write_config(tmp_path / "new.toml", ready.url, new_key)

    assert ready("tokens", "export", "t1", config=only_new).code == 1  # not rotated yet
    result = ready("keys", "rotate", config=both)
    assert result.code == 0 and "re-encrypted 3 secret(s)" in result.out
    new_vault = Vault([new_key])
    assert all(not new_vault.needs_rotation(s) for s in _secrets(ready.url))
    assert sorted(new_vault.decrypt(s) for s in _secrets(ready.url)) == [
        "INSPECTOR-acme-1",
        "THQWJ-t1-secret",
        "THQWJ-t2-secret",
    ]
    assert "re-encrypted 0 secret(s)" in ready("keys", "rotate", config=both).out  # idempotent
    assert ready("tokens", "export", "t2", config=only_new).out == "THQWJ-t2-secret\n"
    assert ready("tokens", "export", "t1", config=ready.config).code == 1  # the old key alone no longer works


def test_keys_rotate_with_an_unrelated_key_fails_cleanly(ready: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(Fernet.generate_key())
    other.chmod(0o600)
    before = ready.dump()
    result = ready("keys", "rotate", config=write_config(tmp_path / "other.toml", ready.url, other))
    assert result.code == 1 and "cannot be decrypted with any configured key" in result.err
    no_traceback(result)
    assert ready.dump() == before


# --- bad input: exit 2, a clear message, nothing changed -------------------------------------------


BadCase = tuple[list[str], str, str]
BAD_INPUT: dict[str, BadCase] = {
    "check an unknown app": (["check", "--app", "nope"], "", "no app named 'nope'"),
    "list an unknown app": (["tokens", "list", "--app", "nope"], "", "no app named 'nope'"),
    "check names with --all": (["check", "t1", "--all"], "", "token names, or --all, --app or --user-id"),
    "check names with --app": (
        ["check", "t1", "--app", "acme"],
        "",
        "token names, or --all, --app or --user-id",
    ),
    "unknown app": (
        ["tokens", "add", "t9", "--app", "nope", "--token-stdin"],
        "THQWJ-x",
        "no app named 'nope'",
    ),
    "duplicate token": (
        ["tokens", "add", "t1", "--app", "acme", "--token-stdin"],
        "THQWJ-y",
        "a token named 't1' already exists",
    ),
    "duplicate app": (
        ["apps", "add", "acme", "--inspector-token-stdin"],
        "INSPECTOR-z",
        "an app named 'acme' already exists",
    ),
    "empty token": (["tokens", "add", "t9", "--app", "acme", "--token-stdin"], "", "the token is empty"),
    "whitespace token": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin"],
        "  \n\t \n",
        "the token is empty",
    ),
    "inner whitespace": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin"],
        "THQ WJ",
        "contains whitespace",
    ),
    "empty inspector": (
        ["apps", "add", "new", "--inspector-token-stdin"],
        " \n",
        "inspector credential is empty",
    ),
    "unset token env": (
        ["tokens", "add", "t9", "--app", "acme", "--token-env", "NO_SUCH_VAR_X"],
        "",
        "environment variable NO_SUCH_VAR_X (the token) is not set",
    ),
    "missing token file": (
        ["tokens", "add", "t9", "--app", "acme", "--token-file", "/nonexistent/tok"],
        "",
        "cannot read token file /nonexistent/tok: No such file or directory",
    ),
    "token file is a directory": (
        ["tokens", "add", "t9", "--app", "acme", "--token-file", "/"],
        "",
        "cannot read token file /: Is a directory",
    ),
    "label without =": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin", "--label", "team"],
        "THQWJ-x",
        "--label 'team': expected KEY=VALUE",
    ),
    "bad label name": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin", "--label", "9x=1"],
        "THQWJ-x",
        "label name '9x' is not valid",
    ),
    "one label twice": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin", "--label", "team=a", "--label", "team=b"],
        "THQWJ-x",
        "--label: label 'team' is given twice",
    ),
    "reserved label": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin", "--label", "severity=x"],
        "THQWJ-x",
        "label name 'severity' is reserved",
    ),
    "bad token name": (
        ["tokens", "add", "bad name", "--app", "acme", "--token-stdin"],
        "THQWJ-x",
        "token name 'bad name' is not valid",
    ),
    "bad app name": (
        ["apps", "add", "a b", "--inspector-token-stdin"],
        "INSPECTOR-x",
        "app name 'a b' is not valid",
    ),
    "app secret without app id": (["apps", "add", "new", "--app-secret-env", "PATH"], "", "needs --app-id"),
    "app secret with a pipe": (
        ["apps", "add", "new", "--app-id", "1|2", "--app-secret-env", "PATH"],
        "",
        "must not contain '|'",
    ),
    "remove unknown app": (["apps", "remove", "nope"], "", "no app named 'nope'"),
    "remove unknown token": (["tokens", "remove", "nope"], "", "no token named 'nope'"),
    "export unknown token": (["tokens", "export", "nope"], "", "no token named 'nope'"),
    "auto-refresh unknown token": (["tokens", "auto-refresh", "nope", "on"], "", "no token named 'nope'"),
    "no --token flag": (["tokens", "add", "t9", "--app", "acme", "--token", "THQWJ-x"], "", "--token"),
    "no token source": (["tokens", "add", "t9", "--app", "acme"], "", "one of the arguments"),
    "two token sources": (
        ["tokens", "add", "t9", "--app", "acme", "--token-stdin", "--token-env", "X"],
        "",
        "not allowed with argument",
    ),
    "no --inspector-token flag": (["apps", "add", "new", "--inspector-token", "x"], "", "--inspector-token"),
    "history limit not a number": (["tokens", "history", "t1", "--limit", "many"], "", "positive integer"),
    "history limit negative": (["tokens", "history", "t1", "--limit", "-1"], "", "positive integer"),
    "unknown command": (["frobnicate"], "", "unknown command 'frobnicate' (choose from init, "),
    "missing action": (["tokens"], "", "required: ACTION"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_exits_2_names_the_problem_and_changes_nothing(
    ready: Cli, tmp_path: Path, case: str
) -> None:
    args, stdin, message = BAD_INPUT[case]
    before = ready.dump()
    result = ready(*args, stdin=stdin)
    assert result.code == 2, result
    assert message in result.err, result.err
    no_traceback(result)
    assert ready.dump() == before


def test_token_file_that_is_not_utf8(ready: Cli, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"THQWJ-\xff\xfe")
    before = ready.dump()
    result = ready("tokens", "add", "t9", "--app", "acme", "--token-file", str(path))
    assert result.code == 2 and f"cannot read token file {path}: not UTF-8 text" in result.err
    assert ready.dump() == before


# --- configuration errors: exit 2, the file and the key named --------------------------------------


def test_malformed_toml_names_the_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nurl = "sqlite:///x.db"\n\n[security]\nkey_file = \n')
    result = cli("status", config=bad)
    assert result.code == 2 and str(bad) in result.err and "line 5" in result.err
    no_traceback(result)


def test_unknown_keys_and_wrong_types_are_all_reported(cli: Cli, tmp_path: Path) -> None:
    bad = write_config(
        tmp_path / "bad.toml",
        cli.url,
        cli.key,
        '[threads]\nconcurrency = "eight"\ntimeuot = "10s"\n\n[schedule]\nretention = true\n\n[bogus]\n',
    )
    result = cli("status", config=bad)
    assert result.code == 2
    for expected in (
        "threads.concurrency: expected an integer",
        "threads.timeuot: unknown key",
        "bogus: unknown key",
        "schedule.retention",
    ):
        assert f"{bad}: {expected}" in result.err, result.err
    assert 'did you mean "timeout"' in result.err
    no_traceback(result)


def test_missing_config_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("status", config=tmp_path / "nope.toml")
    assert result.code == 2 and str(tmp_path / "nope.toml") in result.err


def test_config_from_environment_variable(
    cli: Cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADS_TOKEN_MONITOR_CONFIG", str(cli.config))
    assert main(["init"]) == 0
    assert "database migrated" in capsys.readouterr().out


# --- runtime failures: exit 1, no traceback --------------------------------------------------------


def test_wrong_key_is_a_clear_runtime_error(ready: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(Fernet.generate_key())
    other.chmod(0o600)
    result = ready("tokens", "export", "t1", config=write_config(tmp_path / "w.toml", ready.url, other))
    assert (
        result.code == 1 and "key" in result.err and "cannot be decrypted" in result.err and result.out == ""
    )
    no_traceback(result)


def test_missing_key_file_is_a_clear_runtime_error(ready: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    config = write_config(tmp_path / "m.toml", ready.url, missing)
    for args in (["tokens", "export", "t1"], ["tokens", "add", "t9", "--app", "acme", "--token-stdin"]):
        result = ready(*args, stdin="THQWJ-x", config=config)
        assert result.code == 1 and f"key file {missing} does not exist" in result.err, result
        no_traceback(result)


def test_unreachable_database_is_a_runtime_error(cli: Cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "pg.toml", "postgresql+psycopg://nobody@127.0.0.1:1/none", cli.key)
    result = cli("status", config=config)
    assert result.code == 1 and result.err.startswith(
        "threads-token-monitor: database.url: the database answered:"
    )
    no_traceback(result)


# --- the same flow on every backend ----------------------------------------------------------------


@pytest.fixture
def backend_cli(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    key = tmp_path / "secret.key"
    yield Cli(write_config(tmp_path / "config.toml", db_url, key), db_url, key, capsys, monkeypatch)


def test_registry_flow_on_every_backend(backend_cli: Cli, tmp_path: Path) -> None:
    cli = backend_cli
    cli.ok("init")
    cli.ok("init")
    cli.ok("apps", "add", "acme", "--inspector-token-stdin", stdin="INSPECTOR-1")
    cli.ok("tokens", "add", "t1", "--app", "acme", "--token-stdin", "--label", "team=ü", stdin="THQWJ-1")
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("name,app,token,team\nt2,acme,THQWJ-2,growth\nt3,acme,THQWJ-3,\n")
    assert json.loads(cli.ok("tokens", "import", str(csv_file), "--json").out) == {"imported": 2}
    before = cli.dump()
    dup = cli("tokens", "import", str(csv_file))
    assert dup.code == 2 and "a token named 't2' already exists" in dup.err
    assert cli.dump() == before
    rows = json.loads(cli.ok("tokens", "list", "--json").out)
    assert [(r["name"], r["labels"]) for r in rows] == [
        ("t1", {"team": "ü"}),
        ("t2", {"team": "growth"}),
        ("t3", {}),
    ]
    assert [r["state"] for r in json.loads(cli.ok("status", "--json").out)] == ["unchecked"] * 3
    assert cli.ok("tokens", "export", "t3").out == "THQWJ-3\n"
    assert cli("apps", "remove", "acme").code == 2
    cli.ok("apps", "remove", "acme", "--cascade")
    assert json.loads(cli.ok("tokens", "list", "--json").out) == []


# --- the installed console script and `python -m monitor` ------------------------------------------


def _run(
    cmd: list[str], stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "THREADS_TOKEN_MONITOR_CONFIG"} | (env or {})
    return subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=60, env=full_env, check=False
    )


def test_console_script_end_to_end(tmp_path: Path) -> None:
    assert SCRIPT.exists(), "the package is not installed in this interpreter's environment"
    url = f"sqlite:///{tmp_path / 'monitor.sqlite3'}"
    config = write_config(tmp_path / "config.toml", url, tmp_path / "secret.key")
    base = [str(SCRIPT), "--config", str(config)]
    run = _run
    assert run([*base, "init"]).returncode == 0
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert (
        run([*base, "apps", "add", "acme", "--inspector-token-stdin"], stdin="INSPECTOR-1\n").returncode == 0
    )
    added = run(
        [*base, "tokens", "add", "t1", "--app", "acme", "--token-env", "MY_TOKEN", "--json"],
        env={"MY_TOKEN": "THQWJ-subprocess"},
    )
    assert added.returncode == 0 and json.loads(added.stdout)["fingerprint"] == fingerprint(
        "THQWJ-subprocess"
    )


def test_python_dash_m_monitor_help() -> None:
    result = _run([sys.executable, "-m", "monitor", "--help"], env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0
    assert result.stdout.startswith("usage: threads-token-monitor")
    for command in ("init", "migrate", "keys", "apps", "tokens", "status"):
        assert command in result.stdout


def test_sqlite_schema_is_real(ready: Cli) -> None:
    engine = create_engine(ready.url)
    with engine.connect() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
    engine.dispose()
