"""`python -m monitor.simulator`: serve the simulated Meta APIs until Ctrl-C (or list what they speak)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from monitor.simulator.api import PLATFORMS
from monitor.simulator.control import load_doc
from monitor.simulator.registry import INSTAGRAM_DEBUG_MODES
from monitor.simulator.server import Simulator

_DESCRIPTION = "A Meta Graph API simulator (Threads, Facebook, Instagram) for tests, demos and benchmarks."
_EPILOG = """\
paths:
  /threads/..., /facebook/..., /instagram/...   that platform only (its base_url is URL/<platform>)
  bare paths (/v1.0/debug_token, /refresh_access_token, /me)   the platform of the credential's app
                                                (Threads when unknown), or the one --platform pins
  a version segment (/v1.0, /v25.0) is optional everywhere; --list-platforms shows every endpoint

tokens file (--tokens, or POST /__sim/load):
  {"apps": [{"app_id": "1", "inspector": "DEV-TOKEN", "platform": "facebook", "app_secret": "s",
             "deauthorize_url": "http://127.0.0.1:9470/callbacks/{platform}/{app}/deauthorize"}],
   "tokens": [{"token": "EAAG...", "app_id": "1", "type": "PAGE", "profile_id": "42",
               "granular_scopes": [{"scope": "pages_show_list", "target_ids": ["42"]}]}],
   "faults": [{"kind": "latency", "seconds": 0.05}], "instagram_debug": "error"}
control: GET /__sim/stats, /__sim/fault?kind=..., /__sim/revoke?token=... (see monitor/simulator/control.py)
"""


def list_platforms(out: TextIO) -> None:
    """What each platform serves: its prefix, endpoints and token kinds' default scopes."""
    for name, platform in PLATFORMS.items():
        print(f"{name}: /{name}/... (or a bare path of one of its apps)", file=out)
        for path, endpoint in platform.paths.items():
            print(f"  [/vNN.N]{path:<22} {platform.notes.get(endpoint, endpoint)}", file=out)
        print(f"  app token: {platform.app_token('APP_ID', 'APP_SECRET')}", file=out)
        print(f"  issues tokens: {platform.token_prefix}...", file=out)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m monitor.simulator",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=8080)
    cli.add_argument("--tokens", metavar="FILE.json", help="apps, tokens and faults to start with (below)")
    cli.add_argument("--port-file", metavar="PATH", help="write the bound port here once serving")
    cli.add_argument(
        "--callback-url",
        metavar="URL",
        help='POST deauthorize callbacks here ("{app}", "{platform}", "{kind}" are filled in)',
    )
    cli.add_argument("--data-deletion-url", metavar="URL", help="POST data deletion requests here (as above)")
    cli.add_argument(
        "--platform",
        choices=sorted(PLATFORMS),
        help="what bare paths speak (default: the platform of the credential's app, Threads if unknown)",
    )
    cli.add_argument(
        "--instagram-debug-token",
        choices=INSTAGRAM_DEBUG_MODES,
        default="error",
        help="what Instagram's undocumented debug_token answers: an error (default), data without "
        "horizons, or the full data",
    )
    cli.add_argument("--list-platforms", action="store_true", help="list each platform's paths and exit")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m monitor.simulator`: serve until Ctrl-C."""
    args = parser().parse_args(argv)
    if args.list_platforms:
        list_platforms(sys.stdout)
        return 0
    sim = Simulator(
        args.host,
        args.port,
        callback_url=args.callback_url,
        data_deletion_url=args.data_deletion_url,
        default_platform=args.platform,
    )
    sim.set_instagram_debug(args.instagram_debug_token)
    if args.tokens:
        with open(args.tokens, encoding="utf-8") as fh:
            load_doc(sim, json.load(fh))
    sim.start()
    print(sim.url, flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(sim.url.rsplit(":", 1)[1])
        os.replace(args.port_file + ".tmp", args.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass  # Ctrl-C is the documented way out
    finally:
        sim.stop()
    return 0
