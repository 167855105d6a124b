"""Any failure to load a configuration is a clear ConfigError (and exit 2 from `config check`), never a
traceback: nesting deep enough to exhaust the parser's stack, bytes that are not text, a directory, a device
that never ends, a secret file that is none of those things. Any bytes at all give a Config or a ConfigError.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.config.load import MAX_CONFIG_BYTES, Config, ConfigError, load_config


def run(capsys: pytest.CaptureFixture[str], path: Path | str) -> tuple[int, str, str]:
    try:
        code = main(["--config", str(path), "config", "check"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def nested(depth: int, where: str) -> str:
    return {
        "array": "a = " + "[" * depth + "]" * depth,
        "table": "a = " + "{x = " * depth + "1" + "}" * depth,
        "key": "[database]\nurl = " + "[" * depth + "]" * depth,
        "dotted": "a" + ".a" * depth + " = 1",
    }[where]


@pytest.mark.parametrize("where", ["array", "table", "key", "dotted"])
@pytest.mark.parametrize("depth", [100, 500, 5000])
def test_deep_nesting_is_a_clear_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, depth: int
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(nested(depth, where) + "\n", encoding="utf-8")
    code, out, err = run(capsys, path)
    assert code == 2, err
    assert "Traceback" not in err and "RecursionError" not in err
    assert err.startswith(f"{path}: ")


def test_the_reasons_a_file_cannot_be_read_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases: dict[str, tuple[Path | str, str]] = {
        "directory": (tmp_path, "is a directory"),
        "latin-1": (tmp_path / "latin1.toml", "not utf-8 text"),
        "NUL byte": (tmp_path / "nul.toml", "invalid TOML"),
        "endless device": (Path("/dev/zero"), f"larger than {MAX_CONFIG_BYTES} bytes"),
        "NUL in the path": ("conf\0ig.toml", "cannot read the configuration file"),
    }
    (tmp_path / "latin1.toml").write_bytes(b'[log]\nlevel = "d\xe9bug"\n')
    (tmp_path / "nul.toml").write_bytes(b"[log]\0\n")
    for what, (path, message) in cases.items():
        code, out, err = run(capsys, path)
        assert code == 2, what
        assert message.lower() in err.lower(), (what, err)
        assert "Traceback" not in err, what


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[log]\n", encoding="utf-8")
    path.chmod(0)
    code, _, err = run(capsys, path)
    assert code == 2 and "permission denied" in err.lower()


def test_secret_files_that_are_not_secrets(tmp_path: Path) -> None:
    """A `_file` secret that is a directory, an endless device or not text is a problem naming its key."""
    (tmp_path / "latin1").write_bytes(b"\xe9t\xe9")
    text = f"""
[callbacks]
listen = "127.0.0.1:0"
api_token_file = "/dev/zero"
[[notifiers]]
name = "a"
type = "webhook"
url_file = "{tmp_path}"
[[notifiers]]
name = "b"
type = "webhook"
url = "https://hooks.example/b"
secret_file = "{tmp_path / "latin1"}"
"""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    problems = "\n".join(raised.value.problems)
    assert "callbacks.api_token_file: " in problems and "larger than" in problems
    assert "notifiers[0].url_file: cannot read" in problems
    assert "notifiers[1].secret_file: cannot read" in problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_give_a_config_or_a_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    try:
        config = load_config(path, env={})
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert isinstance(config, Config)


TOML_KEYS = st.sampled_from(
    ["database", "url", "threads", "timeout", "callbacks", "listen", "api_token", "notifiers", "name", "type",
     "urls", "match", "alerts", "expiry", "warning", "sources", "query", "log", "level", "http", "x"]
)  # fmt: skip
TOML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_KEYS, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(TOML_KEYS, TOML_VALUES, max_size=5))
def test_any_shape_of_document_gives_a_config_or_a_config_error(doc: dict) -> None:
    """Well-formed TOML of any shape, the known section and key names included, with values of any kind."""
    from monitor.config.load import parse_config

    try:
        parse_config(_drop_none(doc), env={})
    except ConfigError as exc:
        assert exc.problems


def _drop_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_config_check_on_any_bytes_exits_0_or_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    code, out, err = run(capsys, path)
    assert code in (0, 2) and "Traceback" not in out + err
    assert (code == 0) == out.startswith(f"{path}: OK")
