"""`backup PATH` while the real daemon checks tokens, then the restore that docs/backup.md describes, into a
new configuration with the same key file: every token and all of its history is there, and `status` works.
A registry on PostgreSQL or MariaDB is refused with the tool to use instead (exit 2)."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_config
from helpers_daemon import DaemonProcess, Fleet, leaked, make_fleet
from sqlalchemy import func, select
from support import wait_until

from monitor.cli import main
from monitor.db.models import Snapshot, Token, TokenEvent
from monitor.simulator import DAY, Simulator

TOKENS = 60


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def history(url: str) -> dict[str, set[tuple]]:
    """Every token's snapshots and events, by token name, from the database at `url`."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found: dict[str, set[tuple]] = {}
            for table in (Snapshot, TokenEvent):
                cols = [c for c in table.__table__.columns if c.name != "token_id"]
                stmt = select(Token.name, *cols).join(Token, Token.id == table.token_id)
                for name, *values in conn.execute(stmt):
                    found.setdefault(name, set()).add((table.__tablename__, *values))
            return found
    finally:
        engine.dispose()


def checked_since(fleet: Fleet, since: float) -> int:
    with fleet.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Token).where(Token.last_check_at >= since)) or 0)


def fill(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    """Tokens with a history of several different answers and a few changes made to them."""
    fleet.add_app("growth")
    names = fleet.add_tokens("growth", TOKENS)
    cfg = ["-c", str(fleet.config_path)]
    assert run(capsys, *cfg, "check", "--all", "--json")[0] == 0
    for i, name in enumerate(names[::3]):
        fleet.sim.update_token(fleet.tokens[name], expires_at=fleet.sim.clock() + (i + 3) * DAY)
    assert run(capsys, *cfg, "check", "--all", "--json")[0] == 1  # some are now inside a threshold
    for name in names[::5]:
        assert run(capsys, *cfg, "tokens", "label", name, "team=growth")[0] == 0
    fleet.make_due()


def test_backup_while_the_daemon_checks_and_restore_with_every_token_and_its_history(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    url = f"sqlite:///{live / 'monitor.sqlite3'}"
    fleet = make_fleet(live, url, sim, threads={"concurrency": 2})
    try:
        fill(fleet, capsys)
        before = history(url)
        assert len(before) == TOKENS and all(rows for rows in before.values())
        assert sum(len(rows) for rows in before.values()) >= TOKENS + TOKENS // 3 + TOKENS // 5
        sim.set_fault("latency", seconds=0.25)  # 60 tokens, 2 at a time: a sweep of about 8 s
        started = sim.clock()
        backup = tmp_path / "backups" / "monitor-backup.sqlite3"
        backup.parent.mkdir()
        with DaemonProcess(fleet.config_path, tmp_path / "daemon.log") as daemon:
            # The daemon claimed every token (leases written) and is checking them: back up now.
            wait_until(lambda: fleet.leases() > 0, 60, "the daemon to claim tokens for a sweep")
            code, out, err = run(capsys, "-c", str(fleet.config_path), "backup", str(backup))
            assert code == 0, err
            wait_until(lambda: checked_since(fleet, started) == TOKENS, 60, "the sweep to end and be stored")
        assert daemon.proc.returncode == 0, daemon.output()[-3000:]
        assert f"backed up {live / 'monitor.sqlite3'} to {backup}" in out
        assert f"the key file is needed too: {live / 'secret.key'}" in out
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        after = history(url)
    finally:
        fleet.close()

    # Restore as docs/backup.md says: a new place, the backup copied in, the same key file, `migrate`.
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    shutil.copy(backup, restored_dir / "monitor.sqlite3")
    (restored_dir / "monitor.sqlite3").chmod(0o600)
    restored_url = f"sqlite:///{restored_dir / 'monitor.sqlite3'}"
    config = write_config(restored_dir / "config.toml", restored_url, live / "secret.key")
    cfg = ["-c", str(config)]
    assert run(capsys, *cfg, "migrate")[0] == 0
    code, out, err = run(capsys, *cfg, "status", "--json")
    assert code == 0, err
    assert sorted(row["name"] for row in json.loads(out)) == sorted(fleet.tokens)
    restored = history(restored_url)
    for name, rows in before.items():
        assert rows <= restored[name], f"{name}: history from before the backup is missing"
        assert restored[name] <= after[name], f"{name}: the backup holds rows the registry never had"
    name = sorted(fleet.tokens)[0]  # one with a changed expiry and a label: three entries before the backup
    code, out, _ = run(capsys, *cfg, "tokens", "export", name)  # the same key decrypts the restored tokens
    assert code == 0 and out.strip() == fleet.tokens[name]
    code, out, _ = run(capsys, *cfg, "tokens", "history", name, "--json")
    assert code == 0 and len(json.loads(out)) >= 3
    assert not leaked(daemon.output())


@pytest.mark.parametrize(
    ("url", "tool"),
    [
        ("postgresql+psycopg://monitor:pw-secret@db.invalid/registry", "pg_dump --format=custom"),
        ("mysql+pymysql://monitor:pw-secret@db.invalid/registry", "mariadb-dump --single-transaction"),
    ],
)
def test_a_server_registry_is_refused_with_the_tool_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, tool: str
) -> None:
    config = write_config(tmp_path / "c.toml", url, tmp_path / "k")
    code, out, err = run(capsys, "-c", str(config), "backup", str(tmp_path / "b"))
    assert code == 2 and out == ""
    assert tool in err and "registry" in err and "docs/backup.md" in err
    assert "pw-secret" not in err and "db.invalid" not in err
    assert not (tmp_path / "b").exists()


def test_backup_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path / "k")
    assert run(capsys, "-c", str(config), "init")[0] == 0
    target = tmp_path / "b.sqlite3"
    target.write_text("an older backup", encoding="utf-8")
    code, out, err = run(capsys, "-c", str(config), "backup", str(target), "--json")
    assert code == 2 and out == "" and "never overwrites" in err
    assert target.read_text(encoding="utf-8") == "an older backup"
    target.unlink()
    code, out, _ = run(capsys, "-c", str(config), "backup", str(target), "--json")
    assert code == 0
    assert json.loads(out) == {
        "path": str(target),
        "bytes": target.stat().st_size,
        "tokens": 0,
        "revision": json.loads(out)["revision"],
        "key_files": [str(tmp_path / "k")],
    }
    assert json.loads(out)["revision"]
