"""`run`: the daemon until SIGTERM/SIGINT (SIGHUP reloads the config)."""

from __future__ import annotations

import argparse
import concurrent.futures.thread
import logging
import os
import sys
import threading
import time
from types import FrameType

from monitor.commands.helptext import examples
from monitor.config.load import config_path
from monitor.context import Context, all_secrets
from monitor.daemon.logs import FORMATS, LEVELS, configure_logging
from monitor.redact import protect_logs

log = logging.getLogger("monitor.daemon")

# After an orderly stop, how long threads that are still running (a check stuck in an HTTP call) may take to
# finish before the process exits without them. The sweep already gave them a few seconds to answer.
STUCK_THREAD_GRACE = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="the daemon: scheduler + HTTP endpoint, until SIGTERM/SIGINT",
        description=(
            "Run the monitor: check tokens on schedule, refresh and notify, and serve /metrics, /healthz\n"
            "and the status page. Stops on SIGTERM or Ctrl-C; SIGHUP reloads the configuration.\n"
            "Logs go to standard error: text lines with UTC timestamps, or under journald with syslog\n"
            "priorities (`journalctl -p warning`); with --log-format json one JSON object a line (time,\n"
            "level, logger, message and extra fields). Secrets never appear in either.\n"
            "Under systemd see docs/systemd.md."
        ),
        epilog=examples(
            "run",
            "--config /etc/threads-token-monitor/config.toml run",
            "run --log-level debug --log-format json",
        ),
    )
    p.add_argument(
        "--log-level",
        type=str.lower,
        choices=LEVELS,
        metavar="LEVEL",
        help=f"{', '.join(LEVELS)}: overrides [log] level, also across reloads",
    )
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text (default) or json: one JSON object a line",
    )
    p.set_defaults(handler=cmd_run)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    pinned = args.log_level is not None
    configure_logging(args.log_level or ctx.config.log.level, args.log_format, pinned=pinned)
    protect_logs(all_secrets(ctx.config))
    from monitor.daemon.lifecycle import Daemon  # the whole daemon: loaded by `run` only

    daemon = Daemon(ctx.config)
    code = daemon.run(config_path(args.config))
    exit_without_stuck_threads(code, STUCK_THREAD_GRACE)
    return code


def exit_without_stuck_threads(code: int, grace: float) -> None:
    """Return when no other thread is stuck in work after `grace` seconds; otherwise exit the process now
    with `code`.

    At exit Python joins non-daemon threads and every concurrent.futures worker (daemon or not), so a check
    hung in an HTTP call for up to `threads.timeout` would hold a stop past systemd's TimeoutStopSec and end
    in SIGKILL. By now the daemon has stopped: leases are released and the database is closed, so abandoning
    those calls loses nothing. A pool worker waiting for work (Apprise keeps pools of its own) is not stuck:
    interpreter exit wakes and ends it at once.
    """
    deadline = time.monotonic() + grace
    for thread in stuck_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in stuck_threads()]
    if not stuck:
        return
    log.warning(
        "exiting without waiting for %d thread(s) still running (hung API calls?): %s",
        len(stuck),
        ", ".join(sorted(stuck)),
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stuck_threads() -> list[threading.Thread]:
    """Every other thread still alive, except pool workers idle in their pool's loop: a worker's innermost
    frame is the pool's `_worker` while it waits for work, and deeper while it runs some."""
    main, frames = threading.main_thread(), sys._current_frames()
    return [
        t
        for t in threading.enumerate()
        if t is not main and t.is_alive() and not _idle_worker(frames.get(t.ident or -1))
    ]


def _idle_worker(frame: FrameType | None) -> bool:
    return (
        frame is not None
        and frame.f_code.co_name == "_worker"
        and frame.f_code.co_filename == concurrent.futures.thread.__file__
    )
