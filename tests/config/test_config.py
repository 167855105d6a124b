"""config.py: TOML -> frozen dataclasses, every problem at once, secrets never echoed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers_config import EXAMPLE, flatten

from monitor.config.load import (
    Config,
    ConfigError,
    HttpConfig,
    Thresholds,
    config_keys,
    default_config,
    load_config,
    parse_duration,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-value-never-shown"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env or {})
    return info.value


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), env=env or {})


# ---------------------------------------------------------------------------------------------- defaults


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config == Config(path=tmp_path / "config.toml")
    assert default_config() == Config()


def test_default_values() -> None:
    config = default_config()
    assert config.database.url == "sqlite:////var/lib/threads-token-monitor/monitor.sqlite3"
    assert config.security.key_files == (Path("/var/lib/threads-token-monitor/secret.key"),)
    assert config.threads.timeout == 10.0 and config.threads.concurrency == 8
    assert config.schedule.max_check_interval == 6 * 3600 and config.schedule.retention == 400 * 86400
    assert config.http.host == "127.0.0.1" and config.http.port == 9469
    assert config.metrics.per_token == "all" and config.metrics.scopes is True
    assert config.refresh.before == 10 * 86400
    assert config.alerts.expiry == Thresholds(7 * 86400, 2 * 86400)
    assert config.alerts.data_access == Thresholds(14 * 86400, 3 * 86400)
    assert config.log.level == "info"
    assert config.notifiers == () and config.sources == ()
    hash(config)  # frozen all the way down


# ---------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("6h", 21600),
        ("7d", 604800),
        ("1h30m", 5400),
        (45, 45),
        ("90", 90),
        (2.5, 2.5),
    ],
)
def test_parse_duration_good(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "h", "1w", "-5s", "30s5", True, -1])
def test_parse_duration_bad(text: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_in_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, '[schedule]\nsweep_interval = 45\nretention = "30d"\n[threads]\ntimeout = "1m"\n')
    assert config.schedule.sweep_interval == 45.0
    assert config.schedule.retention == 30 * 86400
    assert config.threads.timeout == 60.0


def test_bad_duration_in_the_file(tmp_path: Path) -> None:
    error = problems(tmp_path, '[schedule]\nsweep_interval = "soon"\n')
    assert error.problems == [error.problems[0]]
    assert error.problems[0].startswith('schedule.sweep_interval: invalid duration "soon"')


# ---------------------------------------------------------------------------------------------- type errors


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ('[database]\npool_size = "ten"', "database.pool_size", 'expected an integer, got "ten"'),
        ("[security]\nkey_file = 3", "security.key_file", "expected a string"),
        ("[threads]\nconcurrency = true", "threads.concurrency", "expected an integer, got true"),
        ("[threads]\nconcurrency = 1000", "threads.concurrency", "must be between 1 and 256"),
        ('[threads]\nbase_url = "ftp://x"', "threads.base_url", "must start with http:// or https://"),
        ('[schedule]\njitter = "a bit"', "schedule.jitter", "expected a number"),
        ("[schedule]\njitter = 0.9", "schedule.jitter", "must be between 0 and 0.5"),
        ("[http]\nlisten = 9469", "http.listen", "expected a string"),
        ('[http]\nlisten = "localhost"', "http.listen", "HOST:PORT"),
        ('[metrics]\nper_token = "some"', "metrics.per_token", "must be one of all, problems, none"),
        ('[metrics]\nscopes = "yes"', "metrics.scopes", "expected true or false"),
        ("[refresh]\nenabled = 1", "refresh.enabled", "expected true or false"),
        ('[alerts]\nexpiry = "7d"', "alerts.expiry", "expected a table"),
        ("[alerts]\nexpiry = { warning = false }", "alerts.expiry.warning", "expected a duration"),
        ('[log]\nlevel = "loud"', "log.level", "must be one of debug, info, warning, error"),
        ("threads = 5", "threads", "expected a table"),
        ('notifiers = "x"', "notifiers", "expected an array of tables"),
        ("[notifiers]\nname = 'x'", "notifiers", "expected an array of tables"),
    ],
)
def test_type_errors(tmp_path: Path, toml: str, key: str, fragment: str) -> None:
    error = problems(tmp_path, toml + "\n")
    assert any(p.startswith(f"{key}: ") and fragment in p for p in error.problems), error.problems


def test_notifier_type_errors(tmp_path: Path) -> None:
    error = problems(
        tmp_path,
        """
[[notifiers]]
name = "a"
type = "console"
[[notifiers]]
name = "b"
type = "email"
smtp_host = "localhost"
smtp_port = "abc"
security = "tls"
from = "nobody"
to = []
""",
    )
    assert 'notifiers[1].smtp_port: expected an integer, got "abc"' in error.problems
    assert 'notifiers[1].security: must be one of starttls, ssl, none, got "tls"' in error.problems
    assert 'notifiers[1].from: expected an email address, got "nobody"' in error.problems
    assert any(p.startswith("notifiers[1].to: expected a non-empty array") for p in error.problems)


# ---------------------------------------------------------------------------------------------- keys


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    error = problems(tmp_path, "[threads]\nconcurency = 4\n[htp]\n")
    assert 'threads.concurency: unknown key (did you mean "concurrency"?)' in error.problems
    assert 'htp: unknown key (did you mean "http"?)' in error.problems


def test_unknown_key_for_a_notifier_type(tmp_path: Path) -> None:
    error = problems(
        tmp_path, '[[notifiers]]\nname = "s"\ntype = "slack"\nwebhook_url_env = "X"\nsmtp_host = "h"\n'
    )
    assert any(
        p.startswith("notifiers[0].smtp_host: unknown key for a slack notifier") for p in error.problems
    )


def test_bad_notifier_type_is_one_problem(tmp_path: Path) -> None:
    error = problems(tmp_path, '[[notifiers]]\nname = "s"\ntype = "pager"\nroute = "x"\n')
    assert error.problems == [
        'notifiers[0].type: must be one of slack, webhook, email, alertmanager, console, apprise, got "pager"'
    ]


def test_missing_required_keys(tmp_path: Path) -> None:
    error = problems(tmp_path, '[[notifiers]]\ntype = "email"\n[[sources]]\nname = "db"\n')
    for key in ("notifiers[0].name", "notifiers[0].smtp_host", "notifiers[0].from", "notifiers[0].to"):
        assert f"{key}: missing" in error.problems
    assert "sources[0].url: missing (give one of url, url_file, url_env)" in error.problems
    assert "sources[0].query: missing" in error.problems


def test_several_problems_reported_at_once(tmp_path: Path) -> None:
    error = problems(
        tmp_path,
        """
[threads]
concurrency = 0
timeout = "forever"
[schedule]
min_check_interval = "7h"
[alerts]
expiry = { warning = "2d", critical = "3d" }
[bogus]
[[notifiers]]
name = "x"
type = "console"
[[notifiers]]
name = "x"
type = "console"
""",
    )
    expected = [
        "threads.concurrency: must be between 1 and 256, got 0",
        'threads.timeout: invalid duration "forever"',
        "schedule.min_check_interval: 7h must not exceed max_check_interval (6h)",
        "alerts.expiry: critical (3d) must be shorter than warning (2d)",
        "bogus: unknown key",
        'notifiers[1].name: duplicate name "x" (also notifiers[0])',
    ]
    for fragment in expected:
        assert any(p.startswith(fragment) for p in error.problems), (fragment, error.problems)
    text = str(error).splitlines()
    assert len(text) == len(error.problems) >= len(expected)
    assert all(line.startswith(f"{tmp_path / 'config.toml'}: ") for line in text)
    assert error.path == tmp_path / "config.toml"


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    error = problems(tmp_path, '[threads]\ntimeout = "10s"\nconcurrency = = 4\n')
    assert len(error.problems) == 1
    assert error.problems[0].startswith("invalid TOML:") and "line 3" in error.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert "cannot read" in str(info.value) and str(tmp_path / "nope.toml") in str(info.value)


def test_duplicate_source_names_and_on_refresh(tmp_path: Path) -> None:
    source = 'url = "sqlite://"\nquery = "SELECT 1"\n'
    first = f'[[sources]]\nname = "a"\n{source}on_refresh = "UPDATE t SET x = :token"\n'
    text = f'{first}[[sources]]\nname = "a"\n{source}'
    error = problems(tmp_path, text)
    assert any(p.startswith("sources[0].on_refresh: ") and ":name" in p for p in error.problems)
    assert 'sources[1].name: duplicate name "a" (also sources[0])' in error.problems


def test_source_loads(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[[sources]]\nname = "a"\nurl_env = "DB"\nquery = "SELECT name, token FROM t"\n',
        {"DB": "sqlite://"},
    )
    assert config.sources[0].url == "sqlite://" and config.sources[0].app is None
    assert config.sources[0].sync_interval == 300.0


# ---------------------------------------------------------------------------------------------- secrets

SLACK = '[[notifiers]]\nname = "s"\ntype = "slack"\n'


def test_secret_from_env(tmp_path: Path) -> None:
    config = load(tmp_path, SLACK + 'webhook_url_env = "HOOK"\n', {"HOOK": "https://hooks.slack.test/x"})
    assert config.notifiers[0].settings["webhook_url"] == "https://hooks.slack.test/x"


@pytest.mark.parametrize(("env", "message"), [({}, "is not set"), ({"HOOK": ""}, "is empty")])
def test_secret_env_unset_or_empty(tmp_path: Path, env: dict[str, str], message: str) -> None:
    error = problems(tmp_path, SLACK + 'webhook_url_env = "HOOK"\n', env)
    assert error.problems == [f"notifiers[0].webhook_url_env: environment variable HOOK {message}"]


def test_secret_file_relative_to_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "hook").write_text("https://hooks.slack.test/from-file\n")
    (tmp_path / "hook").write_text("https://hooks.slack.test/next-to-config\n")
    text = SLACK + 'webhook_url_file = "hook"\n'
    with_creds = load(tmp_path, text, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert with_creds.notifiers[0].settings["webhook_url"] == "https://hooks.slack.test/from-file"
    without = load(tmp_path, text)
    assert without.notifiers[0].settings["webhook_url"] == "https://hooks.slack.test/next-to-config"


def test_unreadable_secret_file(tmp_path: Path) -> None:
    error = problems(tmp_path, SLACK + 'webhook_url_file = "missing"\n')
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"notifiers[0].webhook_url_file: cannot read {tmp_path / 'missing'}")


def test_two_forms_of_a_secret(tmp_path: Path) -> None:
    error = problems(
        tmp_path, SLACK + 'webhook_url = "https://a.test"\nwebhook_url_env = "HOOK"\n', {"HOOK": "x"}
    )
    assert error.problems == ["notifiers[0].webhook_url: give only one of webhook_url, webhook_url_env"]


def test_secret_value_never_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text(SECRET)
    text = (
        SLACK
        + 'webhook_url_file = "hook"\n'
        + '[[notifiers]]\nname = "w"\ntype = "webhook"\nurl_env = "URL"\n'
        + '[database]\nurl = "not a url '
        + SECRET
        + '"\n'
        + f'[http]\nlisten = "127.0.0.1:1"\nbasic_auth_password = {len(SECRET)}\n'
    )
    error = problems(tmp_path, text, {"URL": SECRET})
    assert len(error.problems) >= 4, error.problems
    assert SECRET not in str(error)
    # The problems, not str(error): that starts with the tmp path, whose numbers could match by chance.
    assert not any(str(len(SECRET)) in p for p in error.problems), error.problems


def test_email_settings_and_port_default(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2\n")
    text = (
        '[[notifiers]]\nname = "m"\ntype = "email"\nsmtp_host = "mx"\nsecurity = "ssl"\n'
        'password_file = "pw"\nfrom = "a@b.test"\nto = ["c@d.test"]\n'
    )
    settings = load(tmp_path, text).notifiers[0].settings
    assert settings["smtp_port"] == 465 and settings["password"] == "hunter2"
    assert settings["to"] == ("c@d.test",) and settings["username"] is None and settings["ca_file"] is None


# ---------------------------------------------------------------------------------------------- sections


def test_key_file_and_key_files(tmp_path: Path) -> None:
    one = load(tmp_path, '[security]\nkey_file = "k1"\n')
    assert one.security.key_files == (tmp_path / "k1",)
    rotated = load(
        tmp_path, '[security]\nkey_files = ["new", "/abs/old"]\n', {"CREDENTIALS_DIRECTORY": "/run/c"}
    )
    assert rotated.security.key_files == (Path("/run/c/new"), Path("/abs/old"))
    error = problems(tmp_path, '[security]\nkey_file = "a"\nkey_files = ["b"]\n')
    assert error.problems == ["security: give key_file or key_files, not both"]
    error = problems(tmp_path, "[security]\nkey_files = []\n")
    assert error.problems[0].startswith("security.key_files: expected a non-empty array")


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("127.0.0.1:9469", "127.0.0.1", 9469), ("[::1]:8080", "::1", 8080), ("0.0.0.0:0", "0.0.0.0", 0)],
)
def test_listen_parsing(tmp_path: Path, listen: str, host: str, port: int) -> None:
    http = load(tmp_path, f'[http]\nlisten = "{listen}"\n').http
    assert (http.host, http.port) == (host, port)


@pytest.mark.parametrize("listen", ["9469", ":9469", "::1:9469", "host:99999", "host:http"])
def test_listen_rejected(tmp_path: Path, listen: str) -> None:
    error = problems(tmp_path, f'[http]\nlisten = "{listen}"\n')
    assert error.problems[0].startswith("http.listen: expected")


def test_http_pairs(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    error = problems(tmp_path, '[http]\ntls_cert_file = "cert.pem"\nbasic_auth_password = "pw"\n')
    assert "http.tls_key_file: required when tls_cert_file is set (give both or neither)" in error.problems
    assert "http.basic_auth_username: required when basic_auth_password is set (give both or neither)" in (
        error.problems
    )
    assert HttpConfig(listen="[::]:1").host == "::"


def test_thresholds_ordering_and_partial_tables(tmp_path: Path) -> None:
    config = load(tmp_path, '[alerts]\nexpiry = { warning = "10d" }\n')
    assert config.alerts.expiry == Thresholds(10 * 86400, 2 * 86400)
    error = problems(tmp_path, '[alerts]\ndata_access = { warning = "3d", critical = "3d" }\n')
    assert error.problems == ["alerts.data_access: critical (3d) must be shorter than warning (3d)"]


# ---------------------------------------------------------------------------------------------- example


def example_env(tmp_path: Path) -> dict[str, str]:
    """What the example's header says it needs (tests/commands/test_config_files.py holds it to that)."""
    return {"SLACK_WEBHOOK_URL": "https://hooks.slack.test/x", "CREDENTIALS_DIRECTORY": str(tmp_path)}


def test_example_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, env=example_env(tmp_path))
    defaults = default_config()
    for section in (
        "database",
        "threads",
        "schedule",
        "http",
        "metrics",
        "refresh",
        "alerts",
        "log",
    ):
        assert getattr(config, section) == getattr(defaults, section), section
    # The key file as docs/systemd.md hands it over: a credential, relative to $CREDENTIALS_DIRECTORY.
    assert config.security.key_files == (tmp_path / "secret.key",)
    assert [n.type for n in config.notifiers] == ["slack", "console"]
    assert config.notifiers[0].match == {}  # no label filter unless asked for
    assert config.sources == ()


def test_example_documents_exactly_the_accepted_keys() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    uncommented = "\n".join(line[3:] if line.startswith("#~ ") else line for line in lines)
    documented = flatten(tomllib.loads(uncommented), "", config_keys())
    accepted = config_keys()
    assert documented - accepted == set(), "keys in config.example.toml the loader rejects"
    assert accepted - documented == set(), "keys the loader accepts that config.example.toml does not show"


def test_alertmanager_resolve_timeout_must_outlast_the_repeat(tmp_path: Path) -> None:
    am = '[[notifiers]]\nname = "am"\ntype = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
    error = problems(tmp_path, '[alerts]\nrepeat_interval = "3d"\n' + am, {})
    assert error.problems == [
        "notifiers[0].resolve_timeout: must be longer than alerts.repeat_interval, "
        "or Alertmanager resolves the alert between re-sends"
    ]
    path = tmp_path / "ok.toml"
    path.write_text('[alerts]\nrepeat_interval = "3d"\n' + am + 'resolve_timeout = "4d"\n')
    assert load_config(path, env={}).notifiers[0].settings["resolve_timeout"] == 4 * 86400


def test_apprise_urls_as_a_toml_list(tmp_path: Path) -> None:
    text = (
        '[database]\nurl = "sqlite:///x"\n[security]\nkey_file = "k"\n'
        '[[notifiers]]\nname = "phones"\ntype = "apprise"\n'
        'urls = ["json://127.0.0.1:9/hook", "ntfy://127.0.0.1:9/alerts"]\n'
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.notifiers[0].settings["urls"] == ("json://127.0.0.1:9/hook", "ntfy://127.0.0.1:9/alerts")


def test_a_database_url_with_a_port_that_is_not_a_number_is_a_config_problem(tmp_path: Path) -> None:
    text = '[database]\nurl = "postgresql+psycopg://monitor:pw-secret@db.internal:abc/monitor"\n'
    error = problems(tmp_path, text + '[security]\nkey_file = "k"\n')
    assert "database.url" in str(error) and "port" in str(error) and "pw-secret" not in str(error)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[threads]\nbase_url = "http://graph.threads.net"\n', "threads.base_url"),
        (
            '[[notifiers]]\nname = "m"\ntype = "email"\nsmtp_host = "mail.example.com"\nsecurity = "none"\n'
            'username = "u"\npassword = "pw"\nfrom = "a@example.com"\nto = ["b@example.com"]\n',
            "notifiers[0].security",
        ),
    ],
)
def test_a_secret_never_goes_to_another_machine_in_clear(tmp_path: Path, extra: str, key: str) -> None:
    base = '[database]\nurl = "sqlite:///x"\n[security]\nkey_file = "k"\n'
    assert key in str(problems(tmp_path, base + extra))
    local = extra.replace("graph.threads.net", "127.0.0.1:8080").replace("mail.example.com", "localhost")
    load_config(write(tmp_path, base + local), env={})  # this machine: nothing crosses a network
