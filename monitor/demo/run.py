"""`threads-token-monitor demo`: the real daemon against the built-in simulator, on a throwaway database.

Nothing is fetched: the simulator runs in this process on 127.0.0.1, the database is a SQLite file in a
temporary folder (or `./var/demo-<time>/` with `--keep`), and the key is generated on the spot. The tokens
are chosen to tell a story within seconds: a healthy one, one expiring in two days, one whose data access
runs out, a revoked one, one behind a dev-mode app whose inspector is refused, one whose API throttles, and
one that the daemon refreshes by itself, and one whose user removes the app a little after the start: the
simulator sends Meta's signed deauthorize callback to the daemon's [callbacks] listener, which checks that
user's tokens at once. Alerts go to the console notifier; a status table is re-printed
whenever something changes. SIGINT/SIGTERM stop everything and remove the temporary folder (exit 0).
"""

from __future__ import annotations

import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TextIO

from monitor.config.load import Config, parse_config, split_host_port
from monitor.context import Context
from monitor.crypto import create_key_file
from monitor.daemon.lifecycle import Daemon
from monitor.db import migrate
from monitor.demo.cast import APPS, TOKENS, seed
from monitor.simulator import Simulator
from monitor.status import StatusRow, describe_state, status_rows, status_table, until
from monitor.tables import use_colour

DEFAULT_LISTEN = "127.0.0.1:9469"
TABLE_EVERY = 60.0  # re-print an unchanged table this often, so "last check" stays truthful
POLL = 1.0  # how often the table's content is compared with the last one printed


def program() -> str:
    """This program as another terminal can run it: the console script beside this interpreter (a
    virtualenv's bin/, which is not on that terminal's PATH), else `python -m monitor`; an absolute path."""
    script = Path(sys.executable).absolute().with_name("threads-token-monitor")
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(str(Path(sys.executable).absolute()))} -m monitor"


def demo_config_text(folder: Path, base_url: str, listen: str, callbacks: str = "127.0.0.1:0") -> str:
    """The demo's configuration as TOML; also written next to the database for `--config`."""
    return f"""\
# Written by `threads-token-monitor demo`: fast schedules so that things happen within seconds.
[database]
url = "sqlite:///{folder / "demo.sqlite3"}"

[security]
key_file = "{folder / "secret.key"}"

[threads]
base_url = "{base_url}"
max_calls_per_hour = 3600

[platforms.facebook]
base_url = "{base_url}/facebook"

[platforms.instagram]
base_url = "{base_url}/instagram"

[schedule]
sweep_interval = "2s"
min_check_interval = "10s"

[http]
listen = "{listen}"

[callbacks]
listen = "{callbacks}"

[refresh]
before = "10d"

[alerts]
group_wait = "2s"
check_failing_after = "1m"

[log]
level = "warning"

[[notifiers]]
name = "console"
type = "console"
"""


def build_config(folder: Path, base_url: str, listen: str, callbacks: str = "127.0.0.1:0") -> Config:
    text = demo_config_text(folder, base_url, listen, callbacks)
    return parse_config(tomllib.loads(text), path=folder / "config.toml")


def changes(before: dict[str, StatusRow], rows: Sequence[StatusRow], now: float) -> list[str]:
    """One line per token whose state or horizons moved since the last table, e.g. a refresh."""
    out = []
    for row in rows:
        old = before.get(row.name)
        if old is None:
            out.append(f"* {row.name}: {describe_state(row)}")
            continue
        if describe_state(old) != describe_state(row):
            out.append(f"* {row.name}: {describe_state(old)} -> {describe_state(row)}")
        if (row.expires_at or 0) > (old.expires_at or 0) + 3600 and old.expires_at is not None:
            out.append(f"* {row.name}: expiry moved later, now {until(row.expires_at, now)} (refreshed)")
    return out


def resolve_port(listen: str) -> str:
    """ "HOST:0" -> "HOST:<a free port>", so the banner can say where the endpoint is before it starts."""
    host, port = split_host_port(listen)
    if port != 0:
        return listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"


class Demo:
    """Simulator + database + daemon + the printing loop. `run()` blocks until `stop()` or a signal."""

    def __init__(
        self,
        listen: str = DEFAULT_LISTEN,
        keep: bool = False,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.listen, self.keep, self.out, self.clock = listen, keep, out or sys.stdout, clock
        self.stopping = threading.Event()
        self.folder: Path | None = None
        self.sim: Simulator | None = None
        self.daemon: Daemon | None = None
        self.callbacks = ""  # the [callbacks] listener, on a free port
        self._revocations: list[threading.Timer] = []

    def _make_folder(self) -> Path:
        if self.keep:
            folder = Path("var") / time.strftime("demo-%Y%m%d-%H%M%S")
            folder.mkdir(parents=True, exist_ok=False)
            return folder.resolve()
        return Path(tempfile.mkdtemp(prefix="threads-token-monitor-demo-"))

    def start(self) -> None:
        self.listen = resolve_port(self.listen)
        self.callbacks = resolve_port(f"{split_host_port(self.listen)[0]}:0")
        self.folder = self._make_folder()
        self.sim = Simulator().start()
        self.sim.callback_url = f"http://{self.callbacks}/callbacks/threads/growth/deauthorize"
        text = demo_config_text(self.folder, self.sim.url, self.listen, self.callbacks)
        config = build_config(self.folder, self.sim.url, self.listen, self.callbacks)
        (self.folder / "config.toml").write_text(text)
        create_key_file(config.security.key_files[0])
        with closing(Context(config, clock=self.clock)) as ctx:  # as `migrate` and `tokens add` would
            migrate.upgrade(ctx.engine)
            strings = seed(self.sim, ctx, self.clock())
        self.daemon = Daemon(config, clock=self.clock, notify_stream=self.out)
        self._print(self.banner())
        self.daemon.start()
        for tok in (t for t in TOKENS if t.revoke_after is not None):
            timer = threading.Timer(tok.revoke_after or 0.0, self._revoke, (tok.name, strings[tok.name]))
            timer.daemon = True
            timer.start()
            self._revocations.append(timer)

    def _revoke(self, name: str, token: str) -> None:
        """The user removes the app: the simulator revokes the token and POSTs Meta's signed callback."""
        if self.sim is not None and not self.stopping.is_set():
            self.sim.revoke(token)
            self._print(f"\n* {name}: its user removed the app; Meta's deauthorize callback is on its way")

    def banner(self) -> str:
        assert self.folder is not None and self.sim is not None
        base = f"http://{self.listen}"
        platforms = {a.name: a.platform for a in APPS}
        stories = "\n".join(f"  {t.name:<9} ({t.app:<7} {platforms[t.app]:<9}) {t.story}" for t in TOKENS)
        return (
            "threads-token-monitor demo: the real daemon against the built-in Meta API simulator "
            "(Threads, Facebook, Instagram)\n"
            f"  simulator   {self.sim.url} (no network needed)\n"
            f"  database    {self.folder / 'demo.sqlite3'}{'' if self.keep else ' (removed on exit)'}\n"
            f"  metrics     {base}/metrics\n"
            f"  status page {base}/\n"
            f"  health      {base}/healthz\n"
            f"  callbacks   http://{self.callbacks}/callbacks/threads/APP/deauthorize (Meta's deauthorize "
            "callback: a revocation is checked at once, caught within seconds)\n"
            f"  try         {program()} --config {shlex.quote(str(self.folder / 'config.toml'))} status\n"
            f"              curl -s {base}/metrics | grep '^threads_monitor_tokens{{'\n"
            "  Ctrl-C to stop.\n\n"
            f"The tokens:\n{stories}\n\nAlerts appear below as they fire (console notifier):\n"
        )

    def table(self, rows: Sequence[StatusRow], now: float) -> str:
        columns = ("name", "app", "state", "expires", "data_access", "last_check", "scopes", "platform")
        table = status_table(rows, now, colour=use_colour(self.out), columns=columns)
        stamp = time.strftime("%H:%M:%S", time.gmtime(now))
        return f"\n--- status at {stamp} UTC ---\n{table}\n"

    def run(self) -> int:
        self._install_signals()
        try:
            self.start()
            self._loop()
        finally:
            self.stop()
        return 0

    def _loop(self) -> None:
        assert self.daemon is not None
        last: dict[str, StatusRow] = {}
        last_printed = 0.0
        while not self.stopping.wait(POLL):
            now = self.clock()
            with self.daemon.sessions() as s:
                rows = status_rows(s, self.daemon.horizons, now)
            news = changes(last, rows, now)
            if news or now - last_printed >= TABLE_EVERY:
                if last:
                    self._print("\n".join(news))
                self._print(self.table(rows, now))
                last, last_printed = {r.name: r for r in rows}, now

    def _install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def stop(self) -> None:
        self.stopping.set()
        for timer in self._revocations:
            timer.cancel()
        if self.daemon is not None:
            if getattr(self.daemon, "sweeper", None) is not None:  # start() got far enough to need a stop
                self.daemon.stop()
            else:
                self.daemon.db.close()
        if self.sim is not None:
            self.sim.stop()
        if self.folder is not None:
            if self.keep:
                self._print(f"\nstopped; the database and config stay in {self.folder}")
            else:
                shutil.rmtree(self.folder, ignore_errors=True)
                self._print("\nstopped; temporary files removed")
        self.daemon = self.sim = self.folder = None

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def run_demo(listen: str = DEFAULT_LISTEN, keep: bool = False) -> int:
    return Demo(listen=listen, keep=keep).run()
