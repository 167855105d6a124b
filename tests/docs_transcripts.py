"""The sample output of docs/, printed by the code it shows.

A block of a page marked `<!-- transcript: SCENARIO -->` just above its ```console fence holds
`$ threads-token-monitor ...` lines (after `VAR=... ` assignments, with a `< FILE` redirection, or `echo $?`).
Each block runs in a world of its own: a temporary folder with `config.toml` (SQLite, a key file), the
built-in simulator as the Threads API, and a clock fixed at NOW that moves STEP seconds before each command;
SCENARIO says what is in the registry before the first line (see `prepare`). Every command runs in process
through `monitor.cli.main`, the console script's own entry point, with the clock handed to the Context it
builds; its standard output and standard error, in the order printed, become the lines under it. The one
normalisation: the temporary folder is shown as SHOWN_DIR.

    python tests/docs_transcripts.py           # exit 1 and a diff when a page differs from the code
    python tests/docs_transcripts.py --write   # rewrite the pages (make docs-transcripts)

tests/test_docs_transcripts.py runs the same comparison in the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import io
import logging
import os
import re
import shlex
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor import cli
from monitor.alerting.evaluate import evaluate
from monitor.config.load import load_config
from monitor.context import Context
from monitor.db.session import transaction
from monitor.demo import seed
from monitor.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"^(?P<indent> *)<!-- transcript: (?P<scenario>[\w-]+) -->\n"
    r"(?P=indent)```console\n(?P<body>.*?)^(?P=indent)```$",
    re.MULTILINE | re.DOTALL,
)  # indented inside a list item too
NOW = 1_796_126_400.0  # 2026-12-01T12:00:00Z
STEP = 60.0  # the clock moves this much before each command
SHOWN_DIR = "/srv/threads-token-monitor"
DAY = 86400.0
APP_ID, APP_SECRET = "123456789012345", "5f0c2e9d8a7b4c3e1f6a"
# The fixed strings of the tokens the scenarios register, their files, and what the simulator makes of them.
TOKENS = {
    "acme": ("THAAdocsAcmeHealthy0000000000000000", {"expires_at": NOW + 59 * DAY}),
    "globex": ("THAAdocsGlobexExpiring000000000000", {"expires_at": NOW + 2 * DAY - 600}),
    "hooli": ("THAAdocsHooliRevoked00000000000000", {"state": "revoked"}),
    "hooli-new": ("THAAdocsHooliReauthorized000000000", {"expires_at": NOW + 60 * DAY}),
}
IMPORT_CSV = (
    "name,app,token,team\nacme,growth,THAAdocsAcmeHealthy0000000000000000,growth\nbad,growth,,growth\n"
    "other,nope,THAAdocsOther000000000000000000000,growth\n"
)
GOOD_CSV = (
    "name,app,token,team\nacme,growth,THAAdocsAcmeHealthy0000000000000000,growth-eu\n"
    "initech,growth,THAAdocsInitech0000000000000000000,growth\n"
)
SOURCE_ROWS = [(10423, "THAAdocsSource10423000000000000000", "growth"),
               (10424, "THAAdocsSource10424000000000000000", "growth"),
               (9981, "THAAdocsSource9981", "partners")]  # fmt: skip
SOURCE_CONFIG = """
[[sources]]
name = "app-db"
url = "{url}"
app = "growth"
query = "SELECT account_id AS name, access_token AS token, team FROM threads_accounts WHERE active"
"""
BROKEN_CONFIG = """\
[threads]
timeout = "10m"

[[notifiers]]
name = "ops-slack"
type = "slack"
webhook_url_env = "SLACK_WEBHOOK_URL"

[[notifiers]]
name = "hooks"
type = "webhook"
url = "https://hooks.example.internal/threads"
secrt = "x"
"""


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    folder: Path
    clock: Clock
    sim: Simulator
    env: dict[str, str] = field(default_factory=dict)
    last_code: int = 0


def config_text(folder: Path, base_url: str) -> str:
    return (
        f'[database]\nurl = "sqlite:///{folder / "monitor.sqlite3"}"\n\n'
        '[security]\nkey_file = "secret.key"\n\n'
        f'[threads]\nbase_url = "{base_url}"\n\n[[notifiers]]\nname = "console"\ntype = "console"\n'
    )


def prepare(world: World, scenario: str) -> None:
    """What is there before a block's first line: "fresh", a config and nothing else; "registry", the app
    `growth` and tokens acme, globex and hooli, checked, and their alerts evaluated once; "demo", the demo's
    fleet (`make demo`) after its first sweep; "sources", "registry" and an application database (SQLite) with
    three accounts, read by a `[[sources]]` entry not synced yet."""
    if scenario == "registry":
        for line in ("init", f"apps add growth --app-id {APP_ID} --app-secret-env THREADS_APP_SECRET",
                     "tokens add acme --app growth --token-stdin --label team=growth < acme.txt",
                     "tokens add globex --app growth --token-stdin --label team=growth < globex.txt",
                     "tokens add hooli --app growth --token-stdin --label team=growth < hooli.txt",
                     "check --all"):  # fmt: skip
            run(world, "threads-token-monitor " + line)
        world.clock.now += STEP
        ctx = Context(load_config(world.folder / "config.toml"), clock=world.clock)
        try:  # one step of the daemon's alert job: what `alerts list` shows
            with transaction(ctx.sessions) as session:
                evaluate(session, ctx.config.alerts, world.clock())
        finally:
            ctx.close()
    elif scenario == "sources":
        prepare(world, "registry")
        app_db = world.folder / "app.sqlite3"
        with sqlite3.connect(app_db) as db:
            db.execute("CREATE TABLE threads_accounts (account_id INT, access_token, team, active INT)")
            db.executemany("INSERT INTO threads_accounts VALUES (?, ?, ?, 1)", SOURCE_ROWS)
        db.close()
        with (world.folder / "config.toml").open("a", encoding="utf-8") as config:
            config.write(SOURCE_CONFIG.format(url=f"sqlite:///{app_db}"))
    elif scenario == "demo":
        ctx = Context(load_config(world.folder / "config.toml"), clock=world.clock)
        try:
            run(world, "threads-token-monitor init")
            seed(world.sim, ctx, world.clock())
            run(world, "threads-token-monitor check --all")  # the daemon's first sweep
        finally:
            ctx.close()
    elif scenario != "fresh":
        raise ValueError(f"unknown transcript scenario {scenario!r}")


@contextlib.contextmanager
def world_for(scenario: str) -> Iterator[World]:
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="ttm-docs-") as tmp:
        folder = Path(tmp)
        sim = Simulator(clock=clock).start()
        try:
            sim.add_app(APP_ID, app_secret=APP_SECRET, application="Growth Bot")
            for i, (name, (string, fields)) in enumerate(TOKENS.items()):
                sim.add_token(
                    string, app_id=APP_ID, user_id=str(17841400000000 + i), issued_at=NOW - DAY, **fields
                )
                (folder / f"{name}.txt").write_text(string + "\n", encoding="utf-8")
            (folder / "config.toml").write_text(config_text(folder, sim.url), encoding="utf-8")
            (folder / "broken.toml").write_text(BROKEN_CONFIG, encoding="utf-8")
            (folder / "tokens.csv").write_text(IMPORT_CSV, encoding="utf-8")
            (folder / "good.csv").write_text(GOOD_CSV, encoding="utf-8")
            (folder / "mysql.toml").write_text(
                '[database]\nurl = "mysql://monitor@db.internal/monitor"\n', "utf-8"
            )
            env = {"THREADS_TOKEN_MONITOR_CONFIG": "config.toml", "THREADS_APP_SECRET": APP_SECRET,
                   "NEW_TOKEN": TOKENS["hooli-new"][0], "NO_COLOR": "1"}  # fmt: skip
            world = World(folder, clock, sim, env)
            prepare(world, scenario)
            yield world
        finally:
            sim.stop()


@contextlib.contextmanager
def process_state(world: World, env: dict[str, str], stdin: str) -> Iterator[io.StringIO]:
    """The command's process as a shell would give it: its environment, folder, standard input, and one
    stream for what it prints; the root logger bound to that stream; the world's clock in its Context."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_handlers, root = list(logging.getLogger().handlers), logging.getLogger()
    saved_context = cli.Context  # type: ignore[attr-defined]
    printed = io.StringIO()
    try:
        os.environ.update(env)
        os.chdir(world.folder)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), printed, printed
        root.handlers = []
        cli.Context = functools.partial(Context, clock=world.clock)  # type: ignore[attr-defined]
        yield printed
    finally:
        cli.Context = saved_context  # type: ignore[attr-defined]
        root.handlers = saved_handlers
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run(world: World, line: str) -> str:
    """What `line` prints: `[VAR=value ...] threads-token-monitor ARGS [< FILE]` or `echo $?`."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="<")
    lexer.whitespace_split, lexer.commenters = True, "#"
    words = list(lexer)
    if words == ["echo", "$?"]:
        return f"{world.last_code}\n"
    env = dict(world.env)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = env[name] if value == "..." else value
    stdin = ""
    if "<" in words:
        at = words.index("<")
        stdin = (world.folder / words[at + 1]).read_text(encoding="utf-8")
        words = words[:at] + words[at + 2 :]
    if words[:1] != ["threads-token-monitor"]:
        raise ValueError(f"not a command a transcript can run: {line}")
    world.clock.now += STEP
    with process_state(world, env, stdin) as printed:
        try:
            world.last_code = cli.main(words[1:])
        except SystemExit as exc:  # argparse's refusal of a usage error, as the console script would end
            world.last_code = exc.code if isinstance(exc.code, int) else 1
    return printed.getvalue().replace(str(world.folder), SHOWN_DIR)


def render(scenario: str, body: str) -> str:
    """The block's `$ ` lines, each followed by what it prints now."""
    out = []
    with world_for(scenario) as world:
        for line in body.splitlines():
            if line.startswith("$ "):
                out.append(line + "\n" + run(world, line[2:]))
    return "".join(out)


def regenerate(text: str) -> str:
    def block(match: re.Match[str]) -> str:
        head, indent = match.group(0)[: match.start("body") - match.start()], match.group("indent")
        body = "".join(line.removeprefix(indent) + "\n" for line in match.group("body").splitlines())
        printed = render(match.group("scenario"), body)
        return head + "".join(indent + line + "\n" for line in printed.splitlines()) + indent + "```"

    return BLOCK.sub(block, text)


def pages() -> list[Path]:
    return [p for p in sorted(DOCS.rglob("*.md")) if BLOCK.search(p.read_text(encoding="utf-8"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the pages instead of comparing")
    args = parser.parse_args(argv)
    differs = 0
    for path in pages():
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new == text:
            continue
        differs += 1
        if args.write:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}")
        else:
            name = str(path.relative_to(ROOT))
            sys.stdout.writelines(
                difflib.unified_diff(text.splitlines(True), new.splitlines(True), name, name)
            )
    return 1 if differs and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
