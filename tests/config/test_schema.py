"""config.schema.json: current, valid, accepted by jsonschema and taplo, and in agreement with the loader.

The agreement is checked key by key: the schema's keys are the loader's keys (config_keys()), and every key is
probed with a battery of TOML values, in its own section or in a notifier of each type. A value the loader
accepts must pass the schema (an editor never flags a valid file); a value the loader refuses for its type or
for not being one of the choices must fail the schema too. What only the loader can judge (ranges of duration
strings, files that exist, variables that are set, one key against another) is out of the schema's reach.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers_config import EXAMPLE
from hypothesis import given
from hypothesis import strategies as st
from support import tool

from monitor.config.fields import Field, field_keys
from monitor.config.keys import SECTIONS, SOURCE_FIELDS
from monitor.config.load import ConfigError, config_keys, parse_config
from monitor.config.notifier_keys import NOTIFIER_FIELDS, NOTIFIER_TYPE_FIELDS, NOTIFIER_TYPES
from monitor.config.schema import DIALECT, PACKAGED_SCHEMA, config_schema, schema_text
from monitor.config.values import DURATION_PATTERN, ParseContext, parse_duration, schema_of

ROOT = Path(__file__).resolve().parents[2]
TOP_SCHEMA = ROOT / "config.schema.json"
SCHEMA = config_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# A JSON number has no "integer-valued float": the schema cannot tell 8 from 8.0, so every float here has a
# fractional part. Everything else a TOML value can be is here: every kind, empty and hostile forms.
VALUES: list[Any] = [
    True, False, 0, 1, 8, 600, 65535, 70000, -1, 0.25, 1.5, 2.0e9 + 0.5, "", " ", "x", "30s", "5m", "6h",
    "7d", "1h30m", "90", "soon", "https://example.com", "http://127.0.0.1:9", "ftp://example.com",
    "json://localhost", "sqlite:///x.db", "127.0.0.1:9469", "[::1]:80", "localhost", "a@b.example",
    "SELECT :name, :token", "exists.pem", [], ["x"], ["a@b.example"], ["json://localhost"], [1], [["x"]],
    {}, {"team": "growth"}, {"team": 1}, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    "q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4Fg6Hj0Sa", " q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4Fg6Hj0Sa", "q3V9-xLr2_Tz8Kp1Wm5Bn7Cd4F",
]  # fmt: skip
FILE_VALUES: list[Any] = ["good-secret", "missing-file", "", 5, ["good-secret"]]
ENV_VALUES: list[Any] = ["GOOD", "UNSET_VARIABLE", "", 5, ["GOOD"]]
ENV = {"GOOD": ""}  # filled per key with a value its parser accepts


def walk_keys(schema: Mapping[str, Any], prefix: str) -> set[str]:
    """Dotted keys of an object schema, sub-tables descended, as config_keys() spells them."""
    keys: set[str] = set()
    for name, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            keys |= walk_keys(sub, f"{prefix}.{name}")
        else:
            keys.add(f"{prefix}.{name}")
    return keys


def schema_keys() -> set[str]:
    keys: set[str] = set()
    for section, sub in SCHEMA["properties"].items():
        if sub["type"] != "array":
            keys |= walk_keys(sub, section)
            continue
        item = sub["items"]
        for table in [item, *(branch["then"] for branch in item.get("allOf", []) if "then" in branch)]:
            keys |= walk_keys(table, f"{section}[]")
    return keys


# ---------------------------------------------------------------------------------------------- the file


def test_committed_schema_files_are_current() -> None:
    fresh = schema_text()
    for path in (TOP_SCHEMA, PACKAGED_SCHEMA):
        assert path.read_text(encoding="utf-8") == fresh, (
            f"{path.relative_to(ROOT)} is stale: regenerate it with `make schema` (it runs "
            "`threads-token-monitor config schema > config.schema.json` and copies it to monitor/config/)"
        )


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == DIALECT
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_example_points_at_the_schema_and_validates() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "#:schema ./config.schema.json"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(tomllib.loads(text))]
    assert errors == []


def test_taplo_checks_the_example_and_refuses_a_bad_copy(tmp_path: Path) -> None:
    by_directive = _taplo("check", str(EXAMPLE))
    assert by_directive.returncode == 0, by_directive.stderr
    explicit = _taplo("check", "--schema", TOP_SCHEMA.as_uri(), str(EXAMPLE))
    assert explicit.returncode == 0, explicit.stderr
    shutil.copy(TOP_SCHEMA, tmp_path / "config.schema.json")
    bad = EXAMPLE.read_text(encoding="utf-8").replace("concurrency = 8", 'concurrency = "eight"')
    bad = bad.replace('type = "console"', 'type = "console"\nsmtp_host = "localhost"')
    (tmp_path / "config.toml").write_text(bad, encoding="utf-8")
    refused = _taplo("check", str(tmp_path / "config.toml"))
    assert refused.returncode != 0
    assert '"eight" is not of type "integer"' in refused.stderr
    assert "'smtp_host' was unexpected" in refused.stderr


def _taplo(*args: str) -> subprocess.CompletedProcess[str]:
    taplo = tool("taplo")
    return subprocess.run([taplo, *args], capture_output=True, text=True, timeout=60, check=False)


# ---------------------------------------------------------------------------------------------- keys


def test_the_schema_has_exactly_the_keys_the_loader_accepts() -> None:
    assert schema_keys() == config_keys()


def test_each_notifier_type_has_exactly_its_keys() -> None:
    item = SCHEMA["properties"]["notifiers"]["items"]
    assert item["properties"]["type"]["enum"] == list(NOTIFIER_TYPES) == list(NOTIFIER_TYPE_FIELDS)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in item["allOf"]}
    assert set(branches) == set(NOTIFIER_TYPES)
    for kind, fields in NOTIFIER_TYPE_FIELDS.items():
        expected = field_keys("n", {**NOTIFIER_FIELDS, **fields})
        assert walk_keys(branches[kind], "n") == expected, kind
        assert branches[kind]["additionalProperties"] is False


# ---------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Slot:
    """One key: the Field that validates it, where it goes, and a valid config to set it in."""

    label: str
    field: Field
    where: tuple[str | int, ...]  # the table holding the key, e.g. ("notifiers", 0)
    name: str
    base: dict[str, Any]


def good_value(spec: Field, tmp: Path) -> Any:
    """The first value of VALUES (or of the key's choices) the key's parser accepts."""
    ctx = ParseContext(env={}, config_dir=tmp)
    for value in [*VALUES, *schema_of(spec.parse).get("enum", [])]:
        try:
            spec.parse(value, ctx)
        except (ValueError, TypeError):
            continue
        return value
    raise AssertionError(f"no value of VALUES is accepted by {spec.parse}: add one")


def minimal(fields: Mapping[str, Field], tmp: Path, **preset: Any) -> dict[str, Any]:
    required = [name for name, spec in fields.items() if spec.required and name not in preset]
    return {name: good_value(fields[name], tmp) for name in required} | preset


def slots(tmp: Path) -> Iterator[Slot]:
    for section, fields in SECTIONS.items():
        for name, spec in fields.items():
            for child, sub in (spec.children or {name: spec}).items():
                if spec.children is None:
                    yield Slot(f"{section}.{name}", spec, (section,), name, {})
                else:
                    yield Slot(f"{section}.{name}.{child}", sub, (section, name), child, {})
    for kind, type_fields in NOTIFIER_TYPE_FIELDS.items():
        fields = {**NOTIFIER_FIELDS, **type_fields}
        base = {"notifiers": [minimal(fields, tmp, type=kind)]}
        for name, spec in fields.items():
            yield Slot(f"notifiers[{kind}].{name}", spec, ("notifiers", 0), name, base)
    for name, spec in SOURCE_FIELDS.items():
        yield Slot(f"sources.{name}", spec, ("sources", 0), name, {"sources": [minimal(SOURCE_FIELDS, tmp)]})


SLOTS = {slot.label: slot for slot in slots(Path("/nonexistent"))}


def probe(slot: Slot, key: str, value: Any, tmp: Path) -> tuple[list[str] | None, list[str]]:
    """(the loader's problems at `key`, or None when it accepts the file; the schema's errors)."""
    data = json.loads(json.dumps(slot.base))
    table = data
    for step in slot.where:
        table = table.setdefault(step, {}) if isinstance(step, str) else table[step]
    for form in slot.field.keys(slot.name):
        table.pop(form, None)
    table[key] = value
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in slot.where)
    dotted = f"{where.lstrip('.')}.{key}"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(data)]
    try:
        parse_config(data, path=tmp / "config.toml", env=ENV)
    except ConfigError as exc:
        return [p.removeprefix(f"{dotted}: ") for p in exc.problems if p.startswith(f"{dotted}: ")], errors
    return None, errors


def is_type_or_choice(problem: str) -> bool:
    return problem.startswith("expected ") or problem.startswith("must be one of")


def schema_property(slot: Slot, key: str) -> dict[str, Any]:
    node = SCHEMA
    for step in slot.where:
        node = node["properties"][step] if isinstance(step, str) else node["items"]
    return dict(node["properties"].get(key, {}))


def probes(slot: Slot, key: str) -> list[Any]:
    """VALUES, and for a key with choices every choice and a near miss of each."""
    choices = schema_property(slot, key).get("enum", [])
    return [*VALUES, *choices, *(choice.upper() for choice in choices)]


@pytest.mark.parametrize("label", sorted(SLOTS))
def test_schema_and_loader_agree_on_every_value(label: str, tmp_path: Path) -> None:
    slot = SLOTS[label]
    tmp_path.joinpath("exists.pem").write_text("x", encoding="utf-8")
    good = good_value(slot.field, tmp_path)
    ENV["GOOD"] = good if isinstance(good, str) else "x"
    tmp_path.joinpath("good-secret").write_text(ENV["GOOD"], encoding="utf-8")
    forms = {slot.name: probes(slot, slot.name)}
    if slot.field.secret:
        forms |= {f"{slot.name}_file": FILE_VALUES, f"{slot.name}_env": ENV_VALUES}
    for key, values in forms.items():
        accepted = []
        for value in values:
            problems, errors = probe(slot, key, value, tmp_path)
            if problems is None:
                accepted.append(value)
                assert not errors, f"{key} = {value!r}: the loader accepts it, the schema refuses: {errors}"
            elif any(is_type_or_choice(p) for p in problems):
                assert errors, f"{key} = {value!r}: the loader refuses it ({problems}), the schema accepts it"
        choices = schema_property(slot, key).get("enum")
        if choices is not None and key != "type":  # another notifier type needs other keys
            assert sorted(accepted) == sorted(choices), (
                f"{key}: the loader's choices differ from the schema's"
            )


@given(st.text(alphabet="0123456789.smhdx \t\n\u00a0\u0663", max_size=12))
def test_the_duration_pattern_reads_what_parse_duration_reads(text: str) -> None:
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(re.search(DURATION_PATTERN, text)) == parsed


def test_every_parser_in_the_tables_carries_its_schema() -> None:
    tables = [*SECTIONS.values(), NOTIFIER_FIELDS, *NOTIFIER_TYPE_FIELDS.values(), SOURCE_FIELDS]
    fields = [spec for table in tables for spec in table.values()]
    fields += [child for spec in fields for child in (spec.children or {}).values()]
    for spec in fields:
        assert schema_of(spec.parse), spec


def test_hostile_structure_is_refused_by_both(tmp_path: Path) -> None:
    """Unknown keys, another type's key, two forms of a secret, a missing one, wrong table shapes."""
    slack = {"name": "n", "type": "slack", "webhook_url": "https://example.com"}
    hostile = [
        {"threads": {"timeoutt": "10s"}},
        {"nonsense": {}},
        {"threads": "fast"},
        {"alerts": {"expiry": {"warning": "7d", "soon": "1d"}}},
        {"notifiers": [slack | {"smtp_host": "localhost"}]},
        {"notifiers": [slack | {"webhook_url_env": "GOOD"}]},
        {"notifiers": [{k: v for k, v in slack.items() if k != "webhook_url"}]},
        {"notifiers": [slack | {"type": "pager"}]},
        {"notifiers": [{"type": "console"}]},
        {"notifiers": {"name": "n"}},
        {"sources": [{"name": "s", "url": "sqlite:///x.db", "query": "q", "extra": 1}]},
        {"database": {"url": "sqlite:///x.db", "url_file": "good-secret"}},
    ]
    for data in hostile:
        with pytest.raises(ConfigError):
            parse_config(data, path=tmp_path / "config.toml", env=ENV | {"GOOD": "x"})
        assert list(VALIDATOR.iter_errors(data)), data


def schema_defaults(table: Mapping[str, Any]) -> dict[str, Any]:
    """The "default" of every key of an object schema, sub-tables included."""
    found: dict[str, Any] = {}
    for name, sub in table["properties"].items():
        if "properties" in sub:
            found[name] = schema_defaults(sub)
        elif "default" in sub:
            found[name] = sub["default"]
    return found


def test_the_defaults_shown_are_the_defaults_applied(tmp_path: Path) -> None:
    """A file spelling out every default the schema shows loads as the empty file does."""
    properties = SCHEMA["properties"]
    sections = {name: schema_defaults(sub) for name, sub in properties.items() if sub["type"] == "object"}
    assert sections["threads"]["timeout"] == "10s" and sections["schedule"]["retention"] == "400d"
    assert sections["alerts"]["expiry"] == {"warning": "7d", "critical": "2d"}
    spelled = {name: values for name, values in sections.items() if values}
    assert parse_config(spelled, path=tmp_path / "c.toml", env={}) == parse_config(
        {}, path=tmp_path / "c.toml"
    )
    branches = {
        b["if"]["properties"]["type"]["const"]: b["then"] for b in properties["notifiers"]["items"]["allOf"]
    }
    for kind, type_fields in NOTIFIER_TYPE_FIELDS.items():
        bare = minimal({**NOTIFIER_FIELDS, **type_fields}, tmp_path, type=kind, name="n")
        full = schema_defaults(branches[kind]) | bare
        assert VALIDATOR.is_valid({"notifiers": [full]}), kind
        assert parse_config({"notifiers": [full]}, env={}) == parse_config({"notifiers": [bare]}, env={}), (
            kind
        )
    bare = minimal(SOURCE_FIELDS, tmp_path)
    full = schema_defaults(properties["sources"]["items"]) | bare
    assert parse_config({"sources": [full]}, env={}) == parse_config({"sources": [bare]}, env={})
