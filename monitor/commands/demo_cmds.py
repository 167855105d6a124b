"""`demo [--listen HOST:PORT] [--keep]`: the real daemon against the built-in simulator (no config file)."""

from __future__ import annotations

import argparse
import sys

from monitor.commands.helptext import examples
from monitor.config.keys import split_host_port


def _listen(value: str) -> str:
    try:
        split_host_port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the daemon against the built-in Threads API simulator (no setup)",
        description=(
            "See the monitor at work in a minute: the real daemon against a built-in simulator of the\n"
            "Threads API, with made-up apps and tokens in every state. Needs no configuration file."
        ),
        epilog=examples("demo", "demo --listen 127.0.0.1:8080 --keep"),
    )
    p.add_argument(
        "--listen",
        type=_listen,
        default="127.0.0.1:9469",
        metavar="HOST:PORT",
        help="address of /metrics, /healthz and the status page (default 127.0.0.1:9469)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the database and config in ./var/demo-<time>/ instead of a temporary folder",
    )
    p.set_defaults(handler=cmd_demo, no_config=True)


def cmd_demo(ctx: None, args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    try:
        return run_demo(listen=args.listen, keep=args.keep)
    except OSError as exc:
        if exc.errno == 98:  # EADDRINUSE
            print(
                f"threads-token-monitor: cannot listen on {args.listen}: address in use (try --listen "
                "127.0.0.1:0 or another port)",
                file=sys.stderr,
            )
            return 1
        raise
