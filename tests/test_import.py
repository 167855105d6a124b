"""`tokens import`: CSV and JSON Lines, every row validated first, all or nothing, 10,000 rows in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_url, write_config
from sqlalchemy import create_engine, func, select
from support import statements

from monitor.cli import main
from monitor.crypto import fingerprint
from monitor.db.models import Token
from monitor.registry.importfile import ImportFileError, read_import_file

# 10,000 rows: about 35 statements today; one per row (10,000+) is what this bound exists to catch.
IMPORT_STATEMENTS = 1_000


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> ImportFileError:
    with pytest.raises(ImportFileError) as info:
        read_import_file(path)
    return info.value


# --- parsing ----------------------------------------------------------------------------------------


def test_csv_with_labels_auto_refresh_bom_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "in.csv",
        "\ufeffname, app ,token,team,auto_refresh,env\n"
        "t1,acme, THQWJ-1 ,growth,yes,prod\n\n"
        '"t2",acme,THQWJ-2,,false,\n',
    )
    rows = read_import_file(path)
    assert [(r.name, r.app, r.token, dict(r.labels), r.auto_refresh) for r in rows] == [
        ("t1", "acme", "THQWJ-1", {"team": "growth", "env": "prod"}, True),
        ("t2", "acme", "THQWJ-2", {}, False),
    ]


def test_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "in.jsonl",
        '{"name": "t1", "app": "acme", "token": "THQWJ-1", "labels": {"team": "a"}}\n'
        "\n"
        '{"name": "t2", "app": "acme", "token": "THQWJ-2", "auto_refresh": true}\n',
    )
    rows = read_import_file(path)
    assert [(r.name, dict(r.labels), r.auto_refresh) for r in rows] == [
        ("t1", {"team": "a"}, False),
        ("t2", {}, True),
    ]


def _csv_with_bad_line(bad: str, at: int = 37, total: int = 50) -> str:
    lines = ["name,app,token,team"]
    for line in range(2, total + 1):
        lines.append(bad if line == at else f"t{line},acme,THQWJ-{line},growth")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("t37,acme,,growth", "the token is empty"),
        ("t37,acme,   ,growth", "the token is empty"),
        ("t37,acme,THQ WJ,growth", "the token contains whitespace"),
        ("t37,acme,THQWJ-37", "expected 4 fields, found 3"),
        ("t37,acme,THQWJ-37,growth,extra", "expected 4 fields, found 5"),
        ("bad name,acme,THQWJ-37,growth", "token name 'bad name' is not valid"),
        ("t2,acme,THQWJ-37,growth", "token name 't2' already appears on line 2"),
    ],
)
def test_csv_error_names_line_37(tmp_path: Path, bad: str, message: str) -> None:
    exc = error(write(tmp_path, "in.csv", _csv_with_bad_line(bad)))
    assert exc.line == 37
    assert f"in.csv: line 37: {message}" in str(exc)


def test_csv_header_problems(tmp_path: Path) -> None:
    assert "lacks column(s) token" in str(error(write(tmp_path, "a.csv", "name,app\nt,acme\n")))
    assert "names a column twice" in str(error(write(tmp_path, "b.csv", "name,app,token,x,x\n")))
    reserved = error(write(tmp_path, "c.csv", "name,app,token,severity\nt,acme,THQWJ-1,high\n"))
    assert reserved.line == 2 and "label name 'severity' is reserved" in str(reserved)
    bad_label = error(write(tmp_path, "d.csv", "name,app,token,bad-label\nt,acme,THQWJ-1,x\n"))
    assert "label name 'bad-label' is not valid" in str(bad_label)
    auto = error(write(tmp_path, "e.csv", "name,app,token,auto_refresh\nt,acme,THQWJ-1,maybe\n"))
    assert auto.line == 2 and "auto_refresh must be true or false, not 'maybe'" in str(auto)


@pytest.mark.parametrize(
    ("line3", "message"),
    [
        ('{"name": "t3", "app": "acme", "token": "THQWJ-3"', "not valid JSON"),
        ('["t3", "acme", "THQWJ-3"]', "each line must be a JSON object"),
        ('{"name": "t3", "app": "acme", "token": 12345}', "token must be a string"),
        ('{"name": 3, "app": "acme", "token": "THQWJ-3"}', "name and app must be strings"),
        ('{"name": "t3", "app": "acme"}', "token must be a string"),
        ('{"name": "t3", "app": "acme", "token": "THQWJ-3", "lables": {}}', "unknown field(s): lables"),
        ('{"name": "t3", "app": "acme", "token": "THQWJ-3", "labels": ["a"]}', "labels must be an object"),
        (
            '{"name": "t3", "app": "acme", "token": "THQWJ-3", "labels": {"team": 5}}',
            "label 'team' must be a string",
        ),
        (
            '{"name": "t3", "app": "acme", "token": "THQWJ-3", "auto_refresh": "sometimes"}',
            "auto_refresh must be",
        ),
        ('{"name": "t3", "app": "acme", "token": "  "}', "the token is empty"),
    ],
)
def test_jsonl_bad_line(tmp_path: Path, line3: str, message: str) -> None:
    good = '{"name": "t%d", "app": "acme", "token": "THQWJ-%d"}'
    exc = error(
        write(tmp_path, "in.jsonl", "\n".join([good % (1, 1), good % (2, 2), line3, good % (4, 4)]) + "\n")
    )
    assert exc.line == 3 and f"in.jsonl: line 3: {message}" in str(exc)


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    assert "cannot read the file: No such file or directory" in str(error(tmp_path / "missing.csv"))
    assert "cannot read the file" in str(error(tmp_path))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"name,app,token\nt\xe9,acme,THQWJ-1\n")
    assert "not UTF-8 text" in str(error(latin))
    assert "holds no tokens" in str(error(write(tmp_path, "empty.csv", "")))
    assert "holds no tokens" in str(error(write(tmp_path, "header.csv", "name,app,token\n\n")))


def test_errors_never_echo_the_token(tmp_path: Path) -> None:
    secret = "THQWJ-never-echoed"
    for text in (
        f"name,app,token\nt1,acme,{secret} x\n",
        f"name,app,token\nt1,acme,{secret},extra\n",
        f'{{"name": "t1", "app": "acme", "token": "{secret}", "x": 1}}\n',
        f'{{"name": "t1", "app": "acme", "token": "{secret}" "oops"}}\n',
    ):
        path = write(tmp_path, "in.txt", text)
        assert secret not in str(error(path))


# --- through the command line: all or nothing, 10,000 rows -----------------------------------------


class Importer:
    def __init__(self, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.tmp_path, self.capsys = url, tmp_path, capsys
        self.config = write_config(tmp_path / "config.toml", url, tmp_path / "secret.key")

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def count(self) -> int:
        engine = create_engine(self.url)
        with engine.connect() as conn:
            n = conn.scalar(select(func.count()).select_from(Token)) or 0
        engine.dispose()
        return n


def _ready(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Importer:
    imp = Importer(url, tmp_path, capsys)
    monkeypatch.setenv("INSPECTOR", "INSPECTOR-acme")
    assert imp("init")[0] == 0
    assert imp("apps", "add", "acme", "--inspector-token-env", "INSPECTOR")[0] == 0
    return imp


@pytest.fixture
def importer(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Importer:
    return _ready(sqlite_url, tmp_path, capsys, monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def bench_importer(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Importer]:
    for url in fresh_url(request.param, tmp_path):
        yield _ready(url, tmp_path, capsys, monkeypatch)


def test_cli_csv_bad_line_37_imports_nothing(importer: Importer, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", _csv_with_bad_line("t37,acme,,growth"))
    code, out, err = importer("tokens", "import", str(path))
    assert code == 2 and out == ""
    assert err == f"threads-token-monitor: {path}: line 37: the token is empty\n"
    assert importer.count() == 0


def test_cli_jsonl_bad_line_imports_nothing(importer: Importer, tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", '{"name": "a", "app": "acme", "token": "THQWJ-a"}\n{"name": "b"\n')
    code, _, err = importer("tokens", "import", str(path))
    assert code == 2 and f"{path}: line 2: not valid JSON" in err
    assert importer.count() == 0


def test_cli_unknown_app_in_the_last_row_imports_nothing(importer: Importer, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "name,app,token\na,acme,THQWJ-a\nb,ghost,THQWJ-b\n")
    code, _, err = importer("tokens", "import", str(path))
    assert code == 2 and "token 'b': no app named 'ghost'" in err
    assert importer.count() == 0


def test_cli_import_missing_file(importer: Importer, tmp_path: Path) -> None:
    code, _, err = importer("tokens", "import", str(tmp_path / "nope.csv"))
    assert code == 2 and f"{tmp_path / 'nope.csv'}: cannot read the file" in err


def _big_csv(path: Path, rows: int, bad_last: bool) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("name,app,token,team,auto_refresh\n")
        for i in range(rows - 1):
            f.write(
                f"tok-{i:05d},acme,THQWJ-bulk-{i:05d}-{'x' * 150},team{i % 7},{'true' if i % 2 else ''}\n"
            )
        f.write(f"tok-{rows - 1:05d},acme,{'' if bad_last else f'THQWJ-bulk-{rows - 1:05d}'},last,\n")
    return path


def test_cli_import_10000_rows_all_or_nothing_in_batches(bench_importer: Importer, tmp_path: Path) -> None:
    bad = _big_csv(tmp_path / "bad.csv", 10_000, bad_last=True)
    code, _, err = bench_importer("tokens", "import", str(bad))
    assert code == 2 and f"{bad}: line 10001: the token is empty" in err
    assert bench_importer.count() == 0

    good = _big_csv(tmp_path / "good.csv", 10_000, bad_last=False)
    with statements() as sent:
        code, out, err = bench_importer("tokens", "import", str(good), "--json")
    assert code == 0, err
    assert json.loads(out) == {"imported": 10_000}
    assert bench_importer.count() == 10_000
    assert len(sent) < IMPORT_STATEMENTS, "rows are written in batches, never one statement per row"

    code, out, _ = bench_importer("tokens", "export", "tok-00001")
    assert code == 0 and out == f"THQWJ-bulk-00001-{'x' * 150}\n"
    code, out, _ = bench_importer("tokens", "list", "--app", "acme", "--json")
    rows = json.loads(out)
    assert len(rows) == 10_000 and rows[1]["labels"] == {"team": "team1"} and rows[1]["auto_refresh"] is True
    assert rows[1]["fingerprint"] == fingerprint(f"THQWJ-bulk-00001-{'x' * 150}")

    again = _big_csv(tmp_path / "again.csv", 3, bad_last=False)  # names already taken: refused whole
    code, _, err = bench_importer("tokens", "import", str(again))
    assert code == 2 and "a token named 'tok-00000' already exists" in err
    assert bench_importer.count() == 10_000


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"name": ' + "[" * 5000 + "]" * 5000 + "}", "the JSON is nested too deeply"),
        ('{"name": "' + "x" * 70000 + '"}', "the line is longer than 65536 bytes"),
    ],
)
def test_a_hostile_jsonl_line_is_named_not_a_traceback(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "tokens.jsonl"
    path.write_text('{"name": "ok", "app": "growth", "token": "THAAone1"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=f"line 2: {message}"):
        read_import_file(path)
