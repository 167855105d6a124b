"""[platforms.*] (SPEC 16): hosts per platform, and the old [threads] table read as [platforms.threads]."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import ConfigError, load_config
from monitor.config.model import PlatformConfig


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def test_defaults_follow_metas_current_docs(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.platforms.threads == PlatformConfig("https://graph.threads.com", "v1.0")
    assert config.platforms.facebook == PlatformConfig("https://graph.facebook.com", "v25.0")
    assert config.platforms.instagram == PlatformConfig("https://graph.instagram.com", "v25.0")
    assert config.threads.base_url == "https://graph.threads.com"


def test_old_threads_table_keeps_working_as_platforms_threads(tmp_path: Path) -> None:
    config = load(tmp_path, '[threads]\nbase_url = "https://graph.threads.net"\napi_version = "v1.0"\n')
    assert config.platforms.threads == PlatformConfig("https://graph.threads.net", "v1.0")
    assert config.threads.base_url == "https://graph.threads.net"


def test_platforms_tables_set_each_host(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[threads]\ntimeout = "5s"\n'
        '[platforms.threads]\nbase_url = "http://127.0.0.1:8080/threads"\n'
        '[platforms.facebook]\nbase_url = "http://127.0.0.1:8080/facebook"\napi_version = "v24.0"\n',
    )
    assert config.platforms.threads == PlatformConfig("http://127.0.0.1:8080/threads", "v1.0")
    assert config.threads.base_url == "http://127.0.0.1:8080/threads"  # one value, two names
    assert config.threads.timeout == 5.0
    assert config.platforms.facebook == PlatformConfig("http://127.0.0.1:8080/facebook", "v24.0")
    assert config.platforms.instagram.base_url == "https://graph.instagram.com"


def test_both_places_at_once_is_an_error_naming_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            '[threads]\nbase_url = "https://graph.threads.net"\n'
            '[platforms.threads]\nbase_url = "https://graph.threads.com"\n',
        )
    (problem,) = caught.value.problems
    assert (
        problem.startswith("platforms.threads.base_url:") and "threads.base_url" in problem.split(":", 1)[1]
    )


@pytest.mark.parametrize("platform", ["facebook", "instagram", "threads"])
def test_plain_http_to_another_machine_is_refused_for_every_platform(tmp_path: Path, platform: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[platforms.{platform}]\nbase_url = "http://graph.example.com"\n')
    assert [p.split(":")[0] for p in caught.value.problems] == [f"platforms.{platform}.base_url"]


def test_unknown_platform_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[platforms.tiktok]\nbase_url = "https://x"\n')
    assert "platforms.tiktok" in str(caught.value)
