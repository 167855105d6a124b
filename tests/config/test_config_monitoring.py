"""[metrics] labels and [heartbeat] (SPEC 17): what is accepted, what is refused and how it is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import ConfigError, load_config
from monitor.context import all_secrets

HEARTBEAT = "https://hc-ping.com/0f2c6a4e-6b41-4c54-9d2b-secretcheck"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env or {})


def refused(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return info.value.problems


def test_labels_default_to_none_and_take_valid_keys(tmp_path: Path) -> None:
    assert load(tmp_path, "").metrics.labels == ()  # type: ignore[attr-defined]
    config = load(tmp_path, '[metrics]\nlabels = ["team", "env_2", "_x"]\n')
    assert config.metrics.labels == ("team", "env_2", "_x")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["team", "cost-center"]', "metrics.labels: 'cost-center' is not a valid label key for Prometheus"),
        ('["2fa"]', "metrics.labels: '2fa' is not a valid label key for Prometheus"),
        ('["team", "team"]', "metrics.labels: 'team' listed more than once"),
        ('"team"', "metrics.labels: expected an array of label keys"),
    ],
)
def test_bad_label_keys_are_named(tmp_path: Path, value: str, message: str) -> None:
    (problem,) = refused(tmp_path, f"[metrics]\nlabels = {value}\n")
    assert problem.startswith(message), problem


def test_heartbeat_is_off_unless_present_and_its_url_is_a_secret(tmp_path: Path) -> None:
    assert load(tmp_path, "").heartbeat is None  # type: ignore[attr-defined]
    config = load(tmp_path, '[heartbeat]\nurl_env = "HB"\n', {"HB": HEARTBEAT})
    beat = config.heartbeat  # type: ignore[attr-defined]
    assert (beat.url, beat.interval, beat.timeout) == (HEARTBEAT, 60.0, 10.0)
    assert HEARTBEAT not in repr(config)
    assert HEARTBEAT in all_secrets(config)  # type: ignore[arg-type]


def test_a_bad_heartbeat_never_shows_the_url(tmp_path: Path) -> None:
    problems = refused(tmp_path, '[heartbeat]\nurl = "ftp://hc-ping.com/abc-secret"\ninterval = "0s"\n')
    assert problems == [
        "heartbeat.url: must start with http:// or https://",
        "heartbeat.interval: must be at least 1s, got 0s",
    ]
    assert refused(tmp_path, "[heartbeat]\n")[0].startswith("heartbeat.url: missing")
