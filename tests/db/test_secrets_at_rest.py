"""No token or inspector secret in the database file, in any command's output, or in the logs.

Every secret is a distinctive string; after driving every registry command (successes, --json listings and
refusals whose input holds a secret), the SQLite file, its write-ahead log, everything printed and every log
record are searched for each of them. `tokens export` is the one command that prints a token, by design.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest
from conftest import write_config
from cryptography.fernet import Fernet

from monitor.cli import main


def _secret(kind: str) -> str:
    return f"THQWJ-{kind}-secret-{uuid.uuid4().hex}"


def test_no_secret_in_database_file_outputs_or_logs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy's statements and parameters too
    db = tmp_path / "monitor.sqlite3"
    key = tmp_path / "secret.key"
    config = write_config(tmp_path / "config.toml", f"sqlite:///{db}", key)
    tokens = {f"tok{i}": _secret(f"token{i}") for i in range(8)}
    inspector, inspector_env, app_secret = _secret("inspector"), _secret("inspector-env"), _secret("app")
    refused = [_secret("refused") for _ in range(6)]
    secrets = [*tokens.values(), inspector, inspector_env, app_secret, *refused]
    outputs: list[str] = []

    def run(*args: str, stdin: str = "", expect: int = 0, cfg: Path = config) -> str:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(["--config", str(cfg), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert code == expect, (args, out, err)
        assert "Traceback" not in err
        outputs.append(err)
        if args[:2] != ("tokens", "export"):
            outputs.append(out)
        return out

    run("init")
    # Keep one connection open so the write-ahead log is not checkpointed away when the commands finish.
    keeper = sqlite3.connect(db)
    keeper.execute("SELECT count(*) FROM apps").fetchone()

    run("apps", "add", "acme", "--inspector-token-stdin", "--json", stdin=inspector + "\n")
    monkeypatch.setenv("INSPECTOR_VAR", inspector_env)
    run("apps", "add", "beta", "--inspector-token-env", "INSPECTOR_VAR")
    monkeypatch.setenv("APP_SECRET", app_secret)
    run("apps", "add", "gamma", "--app-id", "998877", "--app-secret-env", "APP_SECRET", "--json")

    run("tokens", "add", "tok0", "--app", "acme", "--token-stdin", "--json", stdin=tokens["tok0"])
    monkeypatch.setenv("TOKEN_VAR", tokens["tok1"])
    run(
        "tokens",
        "add",
        "tok1",
        "--app",
        "beta",
        "--token-env",
        "TOKEN_VAR",
        "--label",
        "team=x",
        "--auto-refresh",
    )
    (tmp_path / "tok2.txt").write_text(tokens["tok2"] + "\n")
    run("tokens", "add", "tok2", "--app", "gamma", "--token-file", str(tmp_path / "tok2.txt"), "--json")
    csv_path = tmp_path / "in.csv"
    csv_path.write_text(
        "name,app,token,team\n" + "".join(f"tok{i},acme,{tokens[f'tok{i}']},t{i}\n" for i in (3, 4, 5))
    )
    run("tokens", "import", str(csv_path))
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"name": f"tok{i}", "app": "beta", "token": tokens[f"tok{i}"]}) + "\n" for i in (6, 7)
        )
    )
    run("tokens", "import", str(jsonl), "--json")

    for listing in (["apps", "list"], ["tokens", "list"], ["status"], ["tokens", "history", "tok0"]):
        run(*listing)
        run(*listing, "--json")
    run("tokens", "auto-refresh", "tok0", "on")
    run("migrate")
    run("init")

    # Refusals whose input holds a secret: the message must name the problem, never the secret.
    run("tokens", "add", "tok0", "--app", "acme", "--token-stdin", "--json", stdin=refused[0], expect=2)
    run("tokens", "add", "new", "--app", "ghost", "--token-stdin", stdin=refused[1], expect=2)
    run("tokens", "add", "new", "--app", "acme", "--token-stdin", stdin=f"{refused[2]} tail", expect=2)
    run("apps", "add", "acme", "--inspector-token-stdin", stdin=refused[3], expect=2)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(f"name,app,token\nn1,acme,{refused[4]},extra\nn2,acme,{refused[4]} x\n")
    run("tokens", "import", str(bad_csv), expect=2)
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text(
        json.dumps({"name": "n1", "app": "acme", "token": refused[5], "tokn": refused[5]}) + "\n"
    )
    run("tokens", "import", str(bad_jsonl), "--json", expect=2)
    run("tokens", "add", "new", "--app", "acme", "--token", refused[5], expect=2)  # no such flag

    # A key rotation, then a wrong key and a missing key: clear errors, exit 1.
    new_key = tmp_path / "new.key"
    new_key.write_bytes(Fernet.generate_key())
    new_key.chmod(0o600)
    rotate = tmp_path / "rotate.toml"
    rotate.write_text(f'[database]\nurl = "sqlite:///{db}"\n[security]\nkey_files = ["{new_key}", "{key}"]\n')
    assert "re-encrypted 11 secret(s)" in run("keys", "rotate", cfg=rotate)
    wrong = write_config(tmp_path / "wrong.toml", f"sqlite:///{db}", key)
    run("tokens", "export", "tok0", cfg=wrong, expect=1)
    missing = write_config(tmp_path / "missing.toml", f"sqlite:///{db}", tmp_path / "missing.key")
    run("tokens", "add", "new", "--app", "acme", "--token-stdin", stdin=refused[0], cfg=missing, expect=1)
    assert any("cannot be decrypted" in o for o in outputs) and any(
        "missing.key does not exist" in o for o in outputs
    )

    # By design, export prints the current token (and only that).
    new_config = write_config(tmp_path / "new.toml", f"sqlite:///{db}", new_key)
    for name, value in tokens.items():
        assert run("tokens", "export", name, cfg=new_config) == value + "\n"

    files = sorted(tmp_path.glob("monitor.sqlite3*"))
    wal = db.with_name(db.name + "-wal")
    assert wal in files and wal.stat().st_size > 0, "the write-ahead log should hold recent pages"
    stored = b"".join(f.read_bytes() for f in files)
    keeper.close()
    assert b"acme" in stored and b"tok7" in stored  # the search looks at real content
    logs = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert any(
        r.name.startswith("sqlalchemy.engine") for r in caplog.records
    )  # SQL and parameters were logged
    printed = "".join(outputs)
    for secret in secrets:
        assert secret.encode() not in stored, f"a secret is stored in plain text ({files})"
        assert secret not in printed, "a secret was printed"
        assert secret not in logs, "a secret was logged"
