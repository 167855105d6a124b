"""`notify test [--notifier NAME]`: send a test message through one or every configured notifier."""

from __future__ import annotations

import argparse
import sys
import uuid

from monitor.commands.helptext import examples
from monitor.context import Context, all_secrets
from monitor.notify import AlertEvent, Message, NotifyError, build_notifier
from monitor.redact import Redactor

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "notify",
        help="notification channels",
        description="The notifiers of the configuration ([[notifiers]]): Slack, e-mail, Apprise and others.",
        epilog=examples("notify test"),
    )
    actions = p.add_subparsers(dest="notify_command", metavar="ACTION", parser_class=type(p))
    actions.required = True
    t = actions.add_parser(
        "test",
        help="send a test notification (directly, not through the outbox)",
        description=(
            "Send a made-up alert through every configured notifier (or one) right now and print whether\n"
            "each was delivered. Exit 1 when one failed."
        ),
        epilog=examples("notify test", "notify test --notifier ops-slack"),
    )
    t.add_argument("--notifier", metavar="NAME", help="only this notifier (default: every one)")
    t.set_defaults(handler=cmd_test)


def test_message(notifier: str, now: float) -> Message:
    """A made-up firing alert for token "example-token"; no registered token is named or touched."""
    event = AlertEvent(
        alertname="TestNotification",
        status="firing",
        severity="warning",
        labels={
            "alertname": "TestNotification",
            "token": "example-token",
            "app": "example-app",
            "severity": "warning",
        },
        annotations={},
        starts_at=now,
        ends_at=None,
        fingerprint=uuid.uuid4().hex[:16],
        at=None,
        kind="test",
    )
    return Message(str(uuid.uuid4()), notifier, '{}:{alertname="TestNotification"}', (event,), now)


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    configs = list(ctx.config.notifiers)
    if args.notifier is not None:
        configs = [c for c in configs if c.name == args.notifier]
        if not configs:
            known = ", ".join(c.name for c in ctx.config.notifiers) or "none configured"
            print(f"threads-token-monitor: no notifier named {args.notifier!r} ({known})", file=sys.stderr)
            return EXIT_USAGE
    if not configs:
        print("no notifiers configured (add [[notifiers]] tables to the configuration)", file=sys.stderr)
        return EXIT_FAILURE
    failed = 0
    redact = Redactor(all_secrets(ctx.config))  # any notifier's secrets: one receiver may echo another's
    for cfg in configs:
        notifier = build_notifier(cfg)
        try:
            notifier.send(test_message(cfg.name, ctx.now()))
            print(f"{cfg.name} ({cfg.type}): sent")
        except NotifyError as exc:
            failed += 1
            kind = "permanent" if exc.permanent else "transient"
            print(f"{cfg.name} ({cfg.type}): failed ({kind}): {redact(exc.message)}")
        finally:
            notifier.close()
    return EXIT_FAILURE if failed else EXIT_OK
