"""`config check [FILE]`, `config schema` and `config example`: validate a configuration file without
starting anything, print the JSON Schema editors use to complete and check it, and print the example file
that ships in the package (`config init` is in config_init.py)."""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files
from pathlib import Path

from monitor.commands import config_init
from monitor.commands.helptext import examples
from monitor.config import Config, ConfigError, config_path, load_config
from monitor.config.schema import schema_text
from monitor.tables import print_json

EXIT_OK, EXIT_USAGE = 0, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="check, create or explain a configuration file",
        description=(
            "Check a configuration file before the daemon reads it, write a minimal one, print the\n"
            "example that explains every key, or print the JSON Schema of the file."
        ),
        epilog=examples(
            "config check",
            "config check ./config.toml",
            "config init ./config.toml",
            "config example > config.toml",
            "config schema",
        ),
    )
    actions = p.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    c = actions.add_parser(
        "check",
        help="validate the configuration as the daemon does (exit 0, or 2 listing every problem)",
        description=(
            "Validate FILE (default: the file given by --config) exactly as `run` reads it, and list\n"
            "every problem with its key path. Secrets given as KEY_file or KEY_env must be readable or\n"
            "set. Nothing else is touched: no database, no key file (one that does not exist yet is\n"
            "fine: `init` creates it), no network."
        ),
        epilog=examples(
            "config check",
            "config check ./config.toml",
            "--config ./config.toml config check --json",
        ),
    )
    c.add_argument("file", nargs="?", metavar="FILE", help="the file to check (default: --config)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(handler=cmd_config_check, no_config=True)
    s = actions.add_parser(
        "schema",
        help="print the JSON Schema of the configuration file (for editors)",
        description=(
            "Print the JSON Schema (draft 2020-12) of the configuration file. Editors with taplo or\n"
            "Even Better TOML complete and check keys with it: put `#:schema ./config.schema.json` at the\n"
            "top of the file."
        ),
        epilog=examples("config schema > /etc/threads-token-monitor/config.schema.json"),
    )
    s.set_defaults(handler=cmd_config_schema, no_config=True)
    config_init.add_parser(actions)
    e = actions.add_parser(
        "example",
        help="print config.example.toml, every key explained with its default",
        description=(
            "Print the example configuration that ships in the package (the source tree's\n"
            "config.example.toml): every key with its default and what it does, optional keys as\n"
            '"#~ " lines. Its header names the environment it needs to pass `config check`.'
        ),
        epilog=examples("config example > /etc/threads-token-monitor/config.toml", "config example | less"),
    )
    e.set_defaults(handler=cmd_config_example, no_config=True)


def cmd_config_check(ctx: None, args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else config_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        if args.json:
            print_json({"path": str(path), "ok": False, "problems": exc.problems})
        else:
            for problem in exc.problems:
                print(f"{path}: {problem}", file=sys.stderr)
            print(f"{path}: {_count(len(exc.problems), 'problem')}, not valid", file=sys.stderr)
            if hint := config_init.missing_config_hint(path):
                print(hint, file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json({"path": str(path), "ok": True, **_counts(config)})
    else:
        notifiers, sources = _count(len(config.notifiers), "notifier"), _count(len(config.sources), "source")
        print(f"{path}: OK ({notifiers}, {sources})")
    return EXIT_OK


def cmd_config_schema(ctx: None, args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return EXIT_OK


def example_text() -> str:
    """config.example.toml as it ships inside the package (monitor/config/, a copy `make schema` keeps)."""
    return files("monitor.config").joinpath("config.example.toml").read_text(encoding="utf-8")


def cmd_config_example(ctx: None, args: argparse.Namespace) -> int:
    sys.stdout.write(example_text())
    return EXIT_OK


def _counts(config: Config) -> dict[str, int]:
    return {"notifiers": len(config.notifiers), "sources": len(config.sources)}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
