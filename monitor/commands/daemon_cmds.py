"""`run`: the daemon until SIGTERM/SIGINT (SIGHUP reloads the config)."""

from __future__ import annotations

import argparse

from monitor.context import Context
from monitor.daemon import Daemon
from monitor.sdnotify import configure_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the daemon: scheduler + HTTP endpoint, until SIGTERM/SIGINT")
    p.set_defaults(handler=cmd_run)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.cli import config_path

    configure_logging(ctx.config.log.level)
    daemon = Daemon(ctx.config)
    return daemon.run(config_path(args))
