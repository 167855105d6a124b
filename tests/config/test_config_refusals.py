"""What `config check` refuses before anything runs: database URLs no installed driver can open (or that name
a directory), and a weak or mistyped [callbacks] API token. Each problem names its key and never repeats the
secret value."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import MIN_API_TOKEN, ConfigError, parse_config

STRONG = "q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4Fg6Hj0Sa"  # 34 characters, varied


def problems(doc: dict, env: dict[str, str] | None = None) -> list[str]:
    try:
        parse_config(doc, env=env or {})
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://db.example/monitor", "no SQLAlchemy dialect for mongodb://"),
        ("mysql://root:pw@db.example/monitor", "use mysql+pymysql://"),
        ("mysql+mysqldb://root:pw@db.example/monitor", "use mysql+pymysql://"),
        ("postgresql+psycopg2://u:pw@db.example/monitor", "use postgresql+psycopg://"),
        ("oracle://u:pw@db.example/monitor", "is not installed"),
    ],
)
def test_a_database_url_without_an_installed_driver_is_refused(url: str, expected: str) -> None:
    found = problems({"database": {"url": url}})
    assert len(found) == 1 and found[0].startswith("database.url: ") and expected in found[0], found
    assert "pw@" not in found[0]
    found = problems({"sources": [{"name": "app", "url": url, "query": "SELECT name, token FROM t"}]})
    assert found and found[0].startswith("sources[0].url: ") and expected in found[0], found


def test_working_urls_pass(tmp_path: Path) -> None:
    for url in (
        f"sqlite:///{tmp_path}/monitor.sqlite3",
        f"sqlite:///{tmp_path}/not-yet/monitor.sqlite3",
        "sqlite://",
        "postgresql+psycopg://postgres@127.0.0.1/test",
        "postgresql://postgres@127.0.0.1/test",
        "mysql+pymysql://root@127.0.0.1/test",
    ):
        assert problems({"database": {"url": url}}) == [], url


def test_a_sqlite_url_naming_a_directory_or_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    found = problems({"database": {"url": f"sqlite:///{tmp_path}"}})
    assert found == [f"database.url: the SQLite database {tmp_path} is a directory, not a file"]
    found = problems({"database": {"url": f"sqlite:///{tmp_path}/afile/monitor.sqlite3"}})
    assert found == [
        f"database.url: the SQLite database cannot be created: {tmp_path / 'afile'} is not a directory"
    ]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("x", f"must be at least {MIN_API_TOKEN} characters"),
        ("0123456789abcdef0123456789abcde", f"must be at least {MIN_API_TOKEN} characters"),
        (" " + STRONG, "must not begin or end with whitespace"),
        (STRONG + "\t", "must not begin or end with whitespace"),
        ("ab" * 20, "too repetitive"),
    ],
)
def test_a_weak_or_padded_api_token_is_refused_without_showing_it(token: str, expected: str) -> None:
    found = problems({"callbacks": {"listen": "127.0.0.1:0", "api_token": token}})
    assert len(found) == 1 and found[0].startswith("callbacks.api_token: ") and expected in found[0], found
    assert token.strip() not in found[0]
    found = problems({"callbacks": {"listen": "127.0.0.1:0", "api_token_env": "T"}}, env={"T": token})
    assert len(found) == 1 and found[0].startswith("callbacks.api_token_env: ") and expected in found[0]


def test_a_strong_token_passes_and_a_file_may_end_with_a_newline(tmp_path: Path) -> None:
    assert problems({"callbacks": {"listen": "127.0.0.1:0", "api_token": STRONG}}) == []
    (tmp_path / "token").write_text(STRONG + "\n", encoding="utf-8")
    doc = {"callbacks": {"listen": "127.0.0.1:0", "api_token_file": str(tmp_path / "token")}}
    assert problems(doc) == []
