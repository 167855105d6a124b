"""Bad input, fuzzed with hypothesis: config files, import files and Threads API answers.

Each must end in a clear error (ConfigError, ImportFileError/RegistryError) or a recorded check result —
never another exception, and never a change to stored data when it is refused.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_daemon import Fleet, close_sweeper
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from monitor.config.load import Config, ConfigError, config_keys, load_config, parse_config
from monitor.db.models import App
from monitor.db.session import transaction
from monitor.graph.client import CheckResult, Verdict, classify_debug
from monitor.graph.wire import INFO_KEYS
from monitor.registry import RegistryError, add_tokens
from monitor.registry.importfile import ImportFileError, read_import_file
from monitor.simulator import Simulator

from .conftest import dump_database

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- JSON and TOML-like values ---------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["30s", "5m", "6h", "7d", "0", "-1s", "10x", "", "1e400", "all", "none", "starttls",
                     "127.0.0.1:0", "[::1]:9469", "sqlite:///:memory:", "https://x.invalid/h", "webhook"]),
)  # fmt: skip
json_values = st.recursive(
    st.none() | scalars.filter(lambda v: not isinstance(v, float) or v == v and abs(v) != float("inf")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

# --- config files ----------------------------------------------------------------------------------------

KEYS = sorted(config_keys())
SECTIONS = sorted({k.split(".", 1)[0] for k in KEYS})
FIELDS: dict[str, list[str]] = {
    s: sorted({k.split(".", 1)[1] for k in KEYS if k.startswith(s + ".")}) for s in SECTIONS
}
toml_values = st.recursive(
    st.one_of(scalars, st.datetimes(), st.dates(), st.times()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A parsed-TOML-like structure: mostly known sections and keys, with wrong types and strangers."""
    out: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(SECTIONS) | st.text(max_size=8), max_size=6)):
        name = section.removesuffix("[]")
        known = FIELDS.get(section, [])
        keys = st.sampled_from(known) | st.text(max_size=10) if known else st.text(max_size=10)
        table = draw(st.dictionaries(keys, toml_values, max_size=6))
        if section.endswith("[]"):
            out[name] = draw(
                st.lists(st.just(table) | st.dictionaries(keys, toml_values, max_size=6), max_size=3)
            )
        else:
            out[name] = table if draw(st.integers(0, 9)) else draw(toml_values)
    return out


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


JUNK = ["[", "]]", "= 1", "key =", '"unterminated', "a.b.c = 1", "[database]", "x = [1,", "\x00", "\ufeff",
        "key = 'single'", "#", "0x = 0x1F", "t = 1979-05-27T07:32:00Z"]  # fmt: skip


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """TOML-ish text: rendered structures, sometimes cut, spliced or salted with junk lines."""
    lines = []
    for name, table in draw(config_dicts()).items():
        tables = table if isinstance(table, list) else [table]
        for t in tables:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            if isinstance(t, dict):
                lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in t.items()]
            else:
                lines.append(f"value = {toml_value(t)}")
    junk = st.sampled_from(JUNK)
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(junk | st.text(max_size=20)))
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(text=config_texts())
def test_any_config_file_is_a_config_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzzed.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config = load_config(path, env={})
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        assert str(path) in str(exc)
        event("refused")
    else:
        assert isinstance(config, Config)
        event("accepted")


@FUZZ
@given(data=config_dicts())
def test_any_config_structure_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        config = parse_config(data, env={})
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        event("refused")
    else:
        assert isinstance(config, Config)
        event("accepted")


# --- import files ----------------------------------------------------------------------------------------

names = st.sampled_from(
    ["alpha", "beta", "x-1", "a.b@c", "", " ", "-bad", "a" * 201, "ünï", "dup"]
) | st.text(max_size=12)
fields = st.one_of(
    names,
    st.sampled_from(["acme", "nope", "THAAimport" + "x" * 20, "with space", "true", "no", "maybe", "team-a"]),
    st.text(max_size=15),
)
columns = st.sampled_from(["name", "app", "token", "team", "auto_refresh", "token", "", "bad label", "app"])


good_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,20}", fullmatch=True)
good_tokens = st.from_regex(r"THAA[A-Za-z0-9]{8,24}", fullmatch=True)
good_row = st.tuples(
    good_names,
    st.sampled_from(["acme"] * 7 + ["nope"]),
    good_tokens,
    st.sampled_from(["", "a,b", 'q"']),
)
good_rows = st.lists(good_row.map(list), min_size=1, max_size=5)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # plausible files: a good header, mostly good rows, sometimes one bad field
        header = ["name", "app", "token", "team"]
        rows = draw(good_rows)
        if draw(st.booleans()):
            rows[draw(st.integers(0, len(rows) - 1))][draw(st.integers(0, 3))] = draw(fields)
    else:
        header = draw(st.lists(columns, min_size=0, max_size=6))
        if draw(st.integers(0, 3)):
            header = ["name", "app", "token", *header]
        rows = draw(st.lists(st.lists(fields, min_size=0, max_size=len(header) + 1), max_size=5))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    record = st.dictionaries(
        st.sampled_from(["name", "app", "token", "labels", "auto_refresh", "extra"]),
        fields | json_values,
        max_size=6,
    )
    good = good_rows.map(lambda rows: [{"name": r[0], "app": r[1], "token": r[2], "labels": {"team": r[3]}}
                                       for r in rows])  # fmt: skip
    records = draw(good | st.lists(record, max_size=5))
    lines = [json.dumps(r) for r in records] + draw(st.lists(st.text(max_size=20), max_size=1))
    return "\n".join(lines).encode()


import_files = st.one_of(csv_files(), jsonl_files(), st.binary(max_size=200))


@pytest.fixture
def registry(tmp_path: Path, sim: Simulator, fleets: Any) -> Iterator[Fleet]:
    fleet: Fleet = fleets(f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim)
    fleet.add_app("acme")
    fleet.add_tokens("acme", 3, prefix="existing")
    yield fleet


@FUZZ
@given(content=import_files)
def test_any_import_file_is_imported_whole_or_refused_without_a_change(
    registry: Fleet, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "import.txt"
    path.write_bytes(content)
    url = registry.config.database.url
    before = dump_database(url)
    try:
        rows = read_import_file(path)
        with transaction(registry.ctx.sessions) as s:
            added = add_tokens(s, registry.ctx.vault, rows, now=time.time())
    except (ImportFileError, RegistryError) as exc:
        assert str(exc)
        assert dump_database(url) == before, "a refused import changed the database"
        event(f"refused: {type(exc).__name__}")
    else:
        assert added == len(rows) > 0
        stored = registry.rows()
        assert all(r.name in stored for r in rows)
        event("imported")


# --- Threads API answers ---------------------------------------------------------------------------------

info_values = st.one_of(
    json_values, st.integers(-(2**63), 2**63), st.floats(allow_nan=False, allow_infinity=False), st.just(0)
)
scope_lists = st.lists(st.sampled_from(["threads_basic", "threads_content_publish", "", "x y"]), max_size=3)
error_objects = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from([1, 2, 4, 17, 32, 100, 190, 613, 80001]) | info_values,
        "subcode": st.sampled_from([460, 463, 466]) | info_values,
        "error_subcode": st.sampled_from([460, 463, 466]) | info_values,
        "message": st.text(max_size=40) | info_values,
        "type": st.just("OAuthException") | info_values,
    },
)
plausible_data = st.fixed_dictionaries(
    {"is_valid": st.booleans()},
    optional={
        **{k: st.integers(0, 2**40) for k in ("expires_at", "data_access_expires_at", "issued_at")},
        **{k: st.text(max_size=10) for k in ("type", "application", "user_id")},
        "scopes": scope_lists,
        "error": error_objects,
    },
)
data_objects = plausible_data | st.fixed_dictionaries(
    {"is_valid": st.booleans() | json_values},
    optional={
        **{k: info_values for k in INFO_KEYS},
        "scopes": scope_lists | info_values,
        "error": error_objects,
    },
)
api_bodies = st.one_of(
    json_values,
    st.builds(lambda d: {"data": d}, data_objects),
    st.builds(lambda e: {"error": e}, error_objects),
    st.builds(lambda d, e: {"data": d, "error": e}, data_objects, error_objects),
)


statuses = st.sampled_from([200, 200, 200, 400, 401, 403, 404, 429, 500, 502, 503])


@FUZZ
@given(
    status=st.integers(100, 599),
    body=api_bodies.map(json.dumps).map(str.encode) | st.binary(max_size=300),
    retry_after=st.none() | st.floats(0, 1e6),
)
def test_any_debug_token_answer_classifies_without_raising(
    status: int, body: bytes, retry_after: float | None
) -> None:
    result = classify_debug(status, body, None, retry_after, ("THAAsecret",))
    assert isinstance(result, CheckResult) and isinstance(result.verdict, Verdict)
    if result.verdict == Verdict.ERROR:
        assert result.reason


@pytest.fixture
def answered(tmp_path: Path, sim: Simulator, fleets: Any) -> Iterator[Fleet]:
    fleet: Fleet = fleets(f"sqlite:///{tmp_path / 'monitor.sqlite3'}", sim)
    fleet.add_app("acme")
    fleet.add_app("other")
    fleet.add_tokens("acme", 1, prefix="fuzzed")
    fleet.add_tokens("other", 5, prefix="bystander")
    sweeper = fleet.sweeper(retries=0)
    fleet.make_due()
    sweeper.sweep()  # everyone answered once: the bystanders' stored state to protect
    close_sweeper(sweeper)
    yield fleet


def token_state(fleet: Fleet, prefix: str) -> dict[str, tuple]:
    return {
        name: tuple(getattr(row, c.key) for c in row.__table__.columns)
        for name, row in fleet.rows().items()
        if name.startswith(prefix)
    }


@FUZZ
@given(status=statuses, body=api_bodies)
def test_any_json_answer_through_the_sweeper_is_a_recorded_check(
    answered: Fleet, status: int, body: Any
) -> None:
    fleet, sim = answered, answered.sim
    (name,) = token_state(fleet, "fuzzed")
    bystanders = token_state(fleet, "bystander")
    expected = classify_debug(status, json.dumps(body).encode(), None, None)
    sim.clear_faults()
    sim.set_fault("shape", token=fleet.tokens[name], status=status, body=body)
    with transaction(fleet.ctx.sessions) as s:  # a fresh start for the app, whatever the last answer taught
        s.execute(update(App).values(inspector_state="ok", inspector_reason=None, inspector_message=None))
    mark = time.time()
    fleet.make_due([name])
    sweeper = fleet.sweeper(retries=0)
    try:
        stats = sweeper.sweep()
    finally:
        close_sweeper(sweeper)
    row = fleet.rows()[name]
    assert stats.inspected == 1 and row.last_check_at >= mark and row.lease_owner is None
    assert row.last_result == expected.verdict.value
    event(f"verdict {row.last_result}")
    if expected.verdict == Verdict.ERROR:
        assert row.last_error and row.consecutive_failures >= 1
    assert token_state(fleet, "bystander") == bystanders, "another token's stored data changed"
