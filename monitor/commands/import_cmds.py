"""tokens import FILE|- [--replace] [--dry-run]: many tokens at once from CSV or JSON Lines, all or nothing.

Every bad line is reported at once, by number, whether the file says it (monitor.registry.importfile) or the
registry does (unknown app, a name taken without --replace, a source's token); then nothing is written."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.progress import count_lines, on_terminal, progress_bar
from monitor.context import Context
from monitor.db.session import transaction
from monitor.registry import apply_writes, plan_writes
from monitor.registry.importfile import STDIN, ImportFileError, label_of, parse_import
from monitor.tables import print_json


def register_tokens(t: argparse._SubParsersAction) -> None:
    p = t.add_parser(
        "import",
        help="import tokens from CSV (name,app,token[,labels...]) or JSON Lines",
        description=(
            "Register many tokens at once from a CSV file (header name,app,token and any label columns) or\n"
            'JSON Lines (one {"name": ..., "app": ..., "token": ...} a line); `-` reads standard input.\n'
            "All or nothing: every bad line is reported at once, and then nothing is imported. --replace\n"
            "updates tokens that exist (string, labels; their history kept), --dry-run says what would\n"
            "change and changes nothing. On a terminal a progress bar shows the rate and the time left."
        ),
        epilog=examples(
            "tokens import tokens.csv",
            "tokens import tokens.jsonl --replace --dry-run",
            "tokens import - < t.csv",
        ),
    )
    p.add_argument("file", help="a .csv file, JSON Lines (.jsonl), or - for standard input")
    p.add_argument("--replace", action="store_true", help="update tokens that exist instead of refusing them")
    p.add_argument("--dry-run", action="store_true", help="check everything and say what would change")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_tokens_import)


def cmd_tokens_import(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    shown = on_terminal(args.json) and args.file != STDIN
    lines = count_lines(Path(args.file)) if shown else 0
    with progress_bar(lines, "line", "reading", enabled=shown) as tick:
        rows, problems = parse_import(args.file, tick)
    sources = {src.name for src in ctx.config.sources}
    writes = [w for _, w in rows]
    bar = progress_bar(len(rows), "token", "importing", enabled=shown and not args.dry_run)
    with bar as tick, transaction(ctx.sessions) as s:
        # What the file says and what the registry says about each line, reported together.
        plan = plan_writes(s, writes, replace=args.replace, sources=sources)
        problems += [(rows[index][0], message) for index, message in plan.problems]
        if problems:
            raise ImportFileError(label_of(args.file), sorted(problems, key=lambda p: p[0] or 0))
        if not args.dry_run:
            apply_writes(s, ctx.vault, plan, now=ctx.now(), via="import", tick=tick)
    counts = plan.counts()
    written = counts["added"] + counts["replaced"] + counts["updated"]
    if args.json:
        out: dict[str, Any] = {"imported": 0 if args.dry_run else written}
        if args.replace or args.dry_run:  # a plain import keeps its old answer: {"imported": N}
            out |= {**counts, "dry_run": args.dry_run}
        print_json(out)
    else:
        print(_summary(label_of(args.file), counts, written, args.dry_run))
    return 0


def _summary(where: str, counts: dict[str, int], written: int, dry_run: bool) -> str:
    if dry_run:
        a, r, u, n = counts["added"], counts["replaced"], counts["updated"], counts["unchanged"]
        return (
            f"dry run, nothing written: {where} would add {a}, replace {r}, update {u}, leave {n} unchanged"
        )
    if written == counts["added"] and not counts["unchanged"]:
        return f"imported {written} token(s) from {where}"
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"imported {written} token(s) from {where}: {parts}"
