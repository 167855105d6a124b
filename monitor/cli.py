"""The command line: parse arguments, load the config, call a command, map failures to exit codes.

Exit codes: 0 success; 1 runtime failure (or `check` found trouble); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.commands import (
    alert_cmds,
    apps_cmds,
    backup_cmds,
    check_cmds,
    completion_cmds,
    config_cmds,
    daemon_cmds,
    demo_cmds,
    notify_cmds,
    registry_cmds,
    source_cmds,
    status_cmds,
    token_cmds,
    version_cmds,
)
from monitor.commands.config_init import missing_config_hint
from monitor.commands.parsing import ArgumentParser, add_everywhere
from monitor.config.load import CONFIG_ENV, DEFAULT_CONFIG, ConfigError, config_path, load_config
from monitor.context import Context, all_secrets
from monitor.crypto import VaultError
from monitor.daemon.errors import DaemonError
from monitor.db.migrate import SchemaOutdated
from monitor.db.session import DatabaseError, sqlite_path
from monitor.redact import first_line, protect_logs
from monitor.registry import RegistryError
from monitor.registry.importfile import ImportFileError
from monitor.tables import PrintableStream

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("monitor")

# Each module adds its subcommands with `register(subparsers)`; a handler is `fn(ctx, args) -> int`.
Register = Callable[[argparse._SubParsersAction], None]
COMMAND_MODULES: tuple[Register, ...] = (
    registry_cmds.register,
    apps_cmds.register,
    token_cmds.register,
    status_cmds.register,
    alert_cmds.register,
    check_cmds.register,
    daemon_cmds.register,
    notify_cmds.register,
    source_cmds.register,
    demo_cmds.register,
    config_cmds.register,
    backup_cmds.register,
    version_cmds.register,
)

DESCRIPTION = (
    "Watch Meta Threads API access tokens: warn before one expires, turns invalid or loses a permission,\n"
    "refresh long-lived tokens on time, and export every token's state to Prometheus."
)
EPILOG = """\
getting started:
  threads-token-monitor demo                       try it against a built-in simulator, no setup
  threads-token-monitor config init                write a minimal configuration file
  threads-token-monitor config check               validate your configuration file
  threads-token-monitor init                       create the key file and the database
  threads-token-monitor apps add growth --app-id 123 --app-secret-env APP_SECRET
  threads-token-monitor tokens add acme --app growth --token-env ACME_TOKEN
  threads-token-monitor check --all                inspect every token now
  threads-token-monitor run                        start the daemon

--config PATH (or -c PATH) may stand before or after the command.
exit codes: 0 success; 1 failure (or `check` found trouble); 2 bad usage or configuration.
Run `threads-token-monitor COMMAND --help` for a command's options and examples;
`threads-token-monitor completion bash|zsh|fish` completes them with Tab."""


def _config_option(text: str) -> str:
    """An empty --config (`-c "$CONF"` with CONF unset) is a mistake, not a wish for the default file."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty")
    return text


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="threads-token-monitor", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for register in COMMAND_MODULES:
        register(sub)
    completion_cmds.register(sub, parser)
    add_everywhere(
        parser,
        "-c",
        "--config",
        metavar="PATH",
        type=_config_option,
        help=f"config file, before or after the command (default ${CONFIG_ENV}, then {DEFAULT_CONFIG})",
    )
    return parser


def console() -> None:
    """The console script and `python -m monitor`: run one command and exit with its code.

    After an interrupt (exit 128 + signal) the process ends at once: the command stored what it had and
    released what it held, and API calls still in flight are abandoned rather than waited for (up to a
    whole timeout each)."""
    code = main()
    if code > 128:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _fail(code: int, message: str) -> int:
    print(f"threads-token-monitor: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; nothing it prints can steer the terminal (see tables.PrintableStream)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(out), PrintableStream(err)  # type: ignore[assignment]
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader left (`... | head -1`): what it did not read is nobody's loss. Standard output now
        # points at /dev/null, so flushing it at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
    finally:
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handler = args.handler
    url: str | None = None  # the database's, once the config is read: its errors name the file
    path = config_path(args.config)
    try:
        if getattr(args, "no_config", False):
            return int(handler(None, args))
        ctx = Context(load_config(path))
        url = ctx.config.database.url
        protect_logs(all_secrets(ctx.config))
        try:
            return int(handler(ctx, args))
        finally:
            ctx.close()
    except ConfigError as exc:
        hint = missing_config_hint(path)
        return _fail(EXIT_USAGE, f"configuration error:\n{exc}" + (f"\n{hint}" if hint else ""))
    except (RegistryError, ImportFileError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    except (VaultError, SchemaOutdated, DatabaseError, DaemonError) as exc:
        return _fail(EXIT_FAILURE, str(exc))
    except SQLAlchemyError as exc:
        return _fail(EXIT_FAILURE, f"database.url: {_db_reason(exc, url)}")
    except KeyboardInterrupt:
        return 130


def _db_reason(exc: SQLAlchemyError, url: str | None) -> str:
    """What the database (or its driver) said, for the one key that names it: the first line of the
    driver's message ("connection refused", "file is not a database"), never the statement, its
    parameters or the URL (it may hold a password); a SQLite file is named by its path."""
    orig = getattr(exc, "orig", None)
    text = (first_line(exc) if orig is not None else "") or type(exc).__name__
    if "no such table" in text or "does not exist" in text or "doesn't exist" in text:
        text += " (run `threads-token-monitor migrate`)"
    with contextlib.suppress(ValueError, SQLAlchemyError):
        path = sqlite_path(url) if url else None
        if path is not None:
            return f"the SQLite database {path}: {text}"
    return f"the database answered: {text}" if orig is not None else f"database error: {text}"
