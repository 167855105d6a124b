"""`alerts list`: the alerts firing now, as `amtool alert query` lists them (no API call)."""

from __future__ import annotations

import argparse
import sys

from monitor.commands.helptext import JSON_HELP, examples
from monitor.context import Context
from monitor.tables import print_json, render_table, use_colour
from monitor.timefmt import iso_utc, relative

COLOURS = {"critical": "red", "warning": "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser(
        "alerts",
        help="the alerts firing now",
        description="The alerts the monitor has firing now (muted ones too), from the stored state.",
        epilog=examples("alerts list", "alerts list --app growth --json"),
    )
    a = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    a.required = True
    p = a.add_parser(
        "list",
        help="list the firing alerts",
        description=(
            "List the firing alerts: token, app, severity, since when, when a notifier last heard of it,\n"
            "and whether a mute holds its notifications back. Loudest and oldest first."
        ),
        epilog=examples("alerts list", "alerts list --token acme", "alerts list --app growth --json"),
    )
    p.add_argument("--app", help="only the alerts of this app (its tokens and its inspector)")
    p.add_argument("--token", metavar="NAME", help="only the alerts of this token")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(handler=cmd_alerts_list)


def cmd_alerts_list(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    now = ctx.now()
    from monitor.alerting.listing import firing_alerts  # the alert engine: loaded by this command only

    with ctx.sessions() as s:
        alerts = firing_alerts(s, now, app=args.app, token=args.token)
    if args.json:
        print_json([a.to_json() for a in alerts])
        return 0
    if not alerts:
        print("no alert is firing")
        return 0
    headers = ["alert", "token", "app", "severity", "since", "last notified", "muted"]
    table = [
        [
            a.alertname,
            a.token or (a.subject if not a.subject.startswith("app:") else "-"),
            a.app or "-",
            a.severity,
            f"{iso_utc(a.since)} ({relative(a.since, now)})",
            relative(a.last_notified_at, now) if a.last_notified_at else "not yet",
            f"until {iso_utc(a.muted_until)}" if a.muted_until else "no",
        ]
        for a in alerts
    ]
    print(
        render_table(headers, table, [COLOURS.get(a.severity) for a in alerts], colour=use_colour(sys.stdout))
    )
    return 0
