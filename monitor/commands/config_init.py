"""`config init [PATH]`: write a minimal configuration that passes `config check`, and say what comes next;
and the next step a user is given when there is no configuration file at all."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tomllib
from pathlib import Path

from sqlalchemy.engine import URL

from monitor import __version__
from monitor.commands.helptext import PROG, examples
from monitor.config import ConfigError, config_path, parse_config
from monitor.config.load import CONFIG_ENV, DEFAULT_CONFIG
from monitor.config.model import DEFAULT_STATE_DIR

EXIT_OK, EXIT_USAGE = 0, 2
KEY_FILE = "secret.key"  # relative: $CREDENTIALS_DIRECTORY under systemd, else beside the config file
DATABASE = "monitor.sqlite3"

TEMPLATE = """\
# threads-token-monitor configuration, written by `{prog} config init` ({version}).
# Every key left out keeps its default: `{prog} config example` prints them all, explained.
# `{prog} config check` validates this file; editors complete keys with the JSON Schema from
# `{prog} config schema > config.schema.json` and a first line `#:schema ./config.schema.json`.

[database]
# The registry: a SQLite file (four slashes: an absolute path), created by `init`. PostgreSQL or MariaDB:
# "postgresql+psycopg://USER@HOST/DB" or "mysql+pymysql://USER@HOST/DB" (url_env = "VAR" for a password).
url = {url}

[security]
# The key that encrypts stored tokens, created by `init` with mode 0600. Relative: in $CREDENTIALS_DIRECTORY
# under systemd (LoadCredential=), else beside this file. Back it up apart from the database.
key_file = {key_file}

[http]
# /metrics, /healthz and the status page.
listen = "127.0.0.1:9469"

# Alerts as lines on standard output (the journal, under systemd). Slack, email, webhooks, Alertmanager
# and 100+ services through Apprise: see `{prog} config example`.
[[notifiers]]
name = "stdout"
type = "console"
"""


def add_parser(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "init",
        help="write a minimal configuration file that passes `config check`",
        description=(
            "Write a minimal configuration to PATH (default: --config, then $THREADS_TOKEN_MONITOR_CONFIG,\n"
            f"then {DEFAULT_CONFIG}) with mode 0600, and print the next steps. It keeps the registry in\n"
            "a SQLite file in --state-dir and names the key file `secret.key` (beside the config, or in\n"
            "$CREDENTIALS_DIRECTORY under systemd); `init` creates both. An existing file is left alone\n"
            "unless --force is given. The state directory defaults to the directory of PATH, or to\n"
            f"{DEFAULT_STATE_DIR} for the system path."
        ),
        epilog=examples(
            "config init ./config.toml",
            "config init /etc/threads-token-monitor/config.toml",
            "config init ~/monitor/config.toml --state-dir ~/monitor/state",
        ),
    )
    p.add_argument("path", nargs="?", metavar="PATH", help="where to write the file (see above)")
    p.add_argument("--state-dir", metavar="DIR", help="where the SQLite database goes (see above)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_config_init, no_config=True)


def minimal_config(state_dir: Path) -> str:
    """The text `config init` writes: SQLite in `state_dir`, the key file `secret.key`, a console notifier."""
    url = URL.create("sqlite", database=str(state_dir / DATABASE)).render_as_string()
    # A JSON string is a valid TOML basic string (the same escapes), whatever the path holds.
    return TEMPLATE.format(prog=PROG, version=__version__, url=json.dumps(url), key_file=json.dumps(KEY_FILE))


def cmd_config_init(ctx: None, args: argparse.Namespace) -> int:
    path = Path(args.path or config_path(args.config)).expanduser().absolute()
    if path.is_dir():
        return _refuse(f"{path} is a directory: give the path of the file to write")
    if path.exists() and not args.force:
        return _refuse(f"{path} exists, left as it is (--force overwrites it)")
    state_dir = _state_dir(args.state_dir, path)
    text = minimal_config(state_dir)
    try:
        parse_config(tomllib.loads(text), path=path)  # what `config check` would say of it, before writing
    except ConfigError as exc:
        return _refuse(f"not written: {exc}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, text)
    except OSError as exc:
        return _refuse(f"cannot write {path}: {exc.strerror or type(exc).__name__}")
    print(
        f"wrote {path} (mode 0600): the registry in {state_dir / DATABASE}, the key file {KEY_FILE} beside it"
        " (in $CREDENTIALS_DIRECTORY under systemd)"
    )
    print(next_steps(path))
    return EXIT_OK


def _state_dir(given: str | None, path: Path) -> Path:
    if given:
        return Path(given).expanduser().absolute()
    return DEFAULT_STATE_DIR if path == Path(DEFAULT_CONFIG) else path.parent


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, whatever the umask and whatever the mode of a file replaced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(fd, 0o600)
        out.write(text)


def next_steps(path: Path) -> str:
    """What to run after `config init`, with `--config PATH` where the default would not find the file."""
    found = config_path(None).expanduser().absolute() == path
    cfg = "" if found else f" --config {shlex.quote(str(path))}"
    steps = [
        ("config check", "validate it (again after each edit)"),
        ("init", "create the key file and the database"),
        ("apps add APP --app-id ID --app-secret-env VAR", "register an app (the secret in $VAR)"),
        ("tokens add NAME --app APP --token-env VAR", "register a token (the string in $VAR)"),
        ("run", "start the daemon"),
    ]
    lines = ["next steps:", *(f"  {PROG}{cfg} {command}    # {what}" for command, what in steps)]
    if path == Path(DEFAULT_CONFIG):
        lines.append(
            "under systemd (docs/systemd.md): chown root:threads-token-monitor and chmod 0640 the file, "
            "and put the key in /etc/threads-token-monitor/secret.key"
        )
    return "\n".join(lines)


def missing_config_hint(path: Path) -> str | None:
    """The next step when `path` does not exist (None when it does)."""
    if os.path.lexists(path):
        return None
    return (
        f"next: `{PROG} config init {shlex.quote(str(path))}` writes a minimal one there, or give an "
        f"existing file with --config PATH (or ${CONFIG_ENV})"
    )


def _refuse(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE
