"""`sources sync [NAME]` and `sources list`: the registry read from the application's own database."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from sqlalchemy import select

from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.progress import Tick, on_terminal, progress_bar
from monitor.config import SourceConfig
from monitor.context import Context
from monitor.db.models import Source
from monitor.sources.job import SourceError, claim_and_sync, select_sources
from monitor.tables import print_json, render_table
from monitor.timefmt import iso_utc

SHOWN_NAMES = 20  # the text output lists at most this many names per kind; --json lists all


def register(sub: argparse._SubParsersAction) -> None:
    sources = sub.add_parser(
        "sources",
        help="token registries read from applications' databases ([[sources]])",
        description="Tokens read from your applications' own databases, as [[sources]] tables configure.",
        epilog=examples("sources sync", "sources list"),
    )
    a = sources.add_subparsers(dest="sources_command", metavar="ACTION")
    a.required = True
    p = a.add_parser(
        "sync",
        help="sync now and print what was added, changed and retired",
        description=(
            "Read the sources now (all, or the ones named) and bring the registry in line: tokens added,\n"
            "changed and retired are listed. On a terminal a progress bar follows the sources."
        ),
        epilog=examples("sources sync", "sources sync app-db --json"),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="sources to sync (default: all)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_sources_sync)
    p = a.add_parser(
        "list",
        help="each source's last sync, last error and token count",
        description="Each configured source's last sync, last success, last error and token count.",
        epilog=examples("sources list", "sources list --json"),
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_sources_list)


def cmd_sources_sync(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    try:
        sources = select_sources(ctx.config, args.names)
    except SourceError as exc:
        print(f"threads-token-monitor: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print("no sources configured (add a [[sources]] table to the configuration)")
        return 0
    owner = f"cli:{socket.gethostname()[:40]}:{os.getpid()}"
    with progress_bar(len(sources), "source", "syncing", enabled=on_terminal(args.json)) as tick:
        results = [_sync_one(ctx, source, owner, tick) for source in sources]
    if args.json:
        print_json(results)
    else:
        for result in results:
            print(_describe(result))
    return 1 if any(r["outcome"] == "failure" for r in results) else 0


def _sync_one(ctx: Context, source: SourceConfig, owner: str, tick: Tick) -> dict[str, Any]:
    """One source synced now, as a result row of `sources sync`."""
    try:
        report = claim_and_sync(ctx.sessions, ctx.vault, source, owner, clock=ctx.clock, force=True)
    except SourceError as exc:
        return {"source": source.name, "outcome": "failure", "error": exc.message}
    finally:
        tick(1)
    if report is None:
        busy = "another instance is syncing this source right now"
        return {"source": source.name, "outcome": "busy", "error": busy}
    return {"source": source.name, "outcome": "success", **report.to_json()}


def _describe(result: dict[str, Any]) -> str:
    name = result["source"]
    if result["outcome"] == "failure":
        return f"{name}: FAILED, nothing changed: {result['error']}"
    if result["outcome"] == "busy":
        return f"{name}: skipped: {result['error']}"
    lines = [
        f"{name}: {len(result['added'])} added, {len(result['changed'])} changed, "
        f"{len(result['retired'])} retired, {result['unchanged']} unchanged"
    ]
    for kind in ("added", "changed", "retired"):
        names = result[kind]
        if names:
            more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
            lines.append(f"  {kind}: {', '.join(names[:SHOWN_NAMES])}{more}")
    return "\n".join(lines)


def cmd_sources_list(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        stored = {row.name: row for row in s.scalars(select(Source))}
    rows = [
        _source_json(cfg.name, stored.get(cfg.name), cfg.app, cfg.sync_interval) for cfg in ctx.config.sources
    ]
    configured = {cfg.name for cfg in ctx.config.sources}
    rows += [
        _source_json(name, row, None, None) for name, row in sorted(stored.items()) if name not in configured
    ]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no sources configured (add a [[sources]] table to the configuration)")
    else:
        headers = ["name", "app", "last sync", "last success", "tokens", "last error"]
        table = [
            [
                r["name"] + ("" if r["configured"] else " (not configured)"),
                r["app"] or "app column",
                r["last_sync_at"] or "never",
                r["last_success_at"] or "never",
                str(r["tokens"]),
                r["last_error"] or "-",
            ]
            for r in rows
        ]
        print(render_table(headers, table))
    return 0


def _source_json(name: str, row: Source | None, app: str | None, interval: float | None) -> dict[str, Any]:
    return {
        "name": name,
        "configured": interval is not None,
        "app": app,
        "sync_interval": interval,
        "last_sync_at": iso_utc(row.last_sync_at) if row is not None and row.last_sync_at else None,
        "last_success_at": iso_utc(row.last_success_at) if row is not None and row.last_success_at else None,
        "last_error": row.last_error if row is not None else None,
        "tokens": row.tokens if row is not None else 0,
    }
