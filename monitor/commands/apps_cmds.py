"""apps add/set-inspector/set-secret/list/remove/mute/unmute (list and remove: app_list_cmds.py): the apps
tokens belong to, and the inspector credential the monitor inspects their tokens with."""

from __future__ import annotations

import argparse

from monitor.commands import app_list_cmds
from monitor.commands.app_list_cmds import app_json
from monitor.commands.helptext import JSON_HELP, examples
from monitor.commands.inspector import inspector_check
from monitor.commands.mute_cmds import add_mute_options, cmd_apps_mute, cmd_apps_unmute
from monitor.commands.secret_args import add_secret_options, given, one_stdin, read_secret
from monitor.context import Context
from monitor.db.session import transaction
from monitor.graph.platforms import PLATFORMS, platform_named
from monitor.graph.results import GraphError
from monitor.registry import (
    RegistryError,
    add_app,
    get_app,
    set_app_secret,
    set_inspector,
)
from monitor.tables import print_json


def register(sub: argparse._SubParsersAction) -> None:
    apps = sub.add_parser(
        "apps",
        help="Meta apps (Threads, Facebook, Instagram) and their inspector credentials",
        description=(
            "The Meta apps your tokens belong to, each of one platform (threads, facebook, instagram). Each\n"
            "app needs an inspector credential (an app token or a tester's user token) that the monitor\n"
            "uses to inspect the app's tokens."
        ),
        epilog=examples("apps add growth --app-id 123 --app-secret-env APP_SECRET", "apps list"),
    )
    a = apps.add_subparsers(dest="apps_command", metavar="ACTION")
    a.required = True
    _add(a)
    _set_inspector(a)
    p = a.add_parser(
        "set-secret",
        help="store the app secret that verifies an app's deauthorize callbacks",
        description=(
            "Store an app's secret (encrypted) so that the [callbacks] listener can verify the signed\n"
            "deauthorize callbacks Meta sends for that app."
        ),
        epilog=examples("apps set-secret growth --app-secret-env APP_SECRET"),
    )
    p.add_argument("name")
    add_secret_options(p, "app-secret", "the app secret")
    p.set_defaults(handler=cmd_apps_set_secret)
    app_list_cmds.register_list_remove(a)
    p = a.add_parser(
        "mute",
        help="mute the alerts of every token of an app",
        description=(
            "Mute every token of an app (tokens added later too) and its InspectorInvalid: they are still\n"
            "checked and shown and their alerts still fire, but no notifier hears of them until the mute\n"
            "ends. It ends by itself; what still fires then is notified once."
        ),
        epilog=examples("apps mute growth --for 2d --comment 'planned migration'", "apps unmute growth"),
    )
    p.add_argument("name")
    add_mute_options(p)
    p.set_defaults(handler=cmd_apps_mute)
    p = a.add_parser(
        "unmute",
        help="end an app's mute now",
        description="End an app's mute now; what still fires is notified at the next evaluation.",
        epilog=examples("apps unmute growth"),
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_apps_unmute)


def _add(a: argparse._SubParsersAction) -> None:
    p = a.add_parser(
        "add",
        help="register an app and its inspector credential",
        description=(
            "Register an app of a platform (--platform, default threads). Give --app-id and the app secret\n"
            "to inspect with the app token (also what a Facebook system-user token's renewal needs), or a\n"
            "tester's user token (--inspector-token-stdin, -env or -file). With --check the credential is\n"
            "tried against the platform's API first, and a refused one is not stored."
        ),
        epilog=examples(
            "apps add growth --app-id 123 --app-secret-env APP_SECRET --check",
            "apps add growth --inspector-token-env TESTER_TOKEN",
            "apps add pages --platform facebook --app-id 456 --app-secret-env FB_APP_SECRET",
        ),
    )
    _inspector_options(p)
    p.add_argument(
        "--platform",
        choices=sorted(PLATFORMS),
        default="threads",
        help="the Meta platform of the app's tokens (default threads; Instagram Login: instagram)",
    )
    p.add_argument("--check", action="store_true", help="try the credential against the API first")
    p.set_defaults(handler=cmd_apps_add)


def _inspector_options(p: argparse.ArgumentParser) -> None:
    """NAME, the inspector credential as a tester's token or an app secret (each in three forms), --app-id
    and --json: what `apps add` and `apps set-inspector` both take."""
    p.add_argument("name")
    add_secret_options(p, "inspector-token", "a tester's user token (the inspector)", required=False)
    add_secret_options(
        p, "app-secret", "the app secret (with --app-id: the inspector TH|ID|SECRET)", required=False
    )
    p.add_argument("--app-id", metavar="ID", help="the app id on its platform (a Threads app has its own)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def _set_inspector(a: argparse._SubParsersAction) -> None:
    p = a.add_parser(
        "set-inspector",
        help="replace an app's inspector credential (checked at once)",
        description=(
            "Replace the inspector credential of an app (a tester token expires too): a tester's user\n"
            "token, or the app token from the app secret (with the app id already registered or --app-id).\n"
            "It is tried against the Threads API at once; a refused one is not stored. The app's history\n"
            "is kept, and an InspectorInvalid raised by the old credential ends as 'replaced'."
        ),
        epilog=examples(
            "apps set-inspector growth --inspector-token-env TESTER_TOKEN",
            "apps set-inspector growth --app-secret-file /run/secrets/growth-app-secret",
        ),
    )
    _inspector_options(p)
    p.set_defaults(handler=cmd_apps_set_inspector)


def _inspector(
    args: argparse.Namespace, app_id: str | None, platform: str = "threads"
) -> tuple[str, str, str | None]:
    """(inspector credential, kind, app secret for callbacks): a tester's user token, else the platform's
    app token (TH|ID|SECRET on Threads, ID|SECRET elsewhere)."""
    one_stdin(args, "inspector-token", "app-secret")
    secret = read_secret(args, "app-secret", "app secret")
    if given(args, "inspector-token"):
        inspector = read_secret(args, "inspector-token", "inspector credential")
        assert inspector is not None
        return inspector, "user_token", secret
    if secret is not None and not app_id:
        raise RegistryError(
            "an app secret without a tester's token needs --app-id (the inspector TH|ID|SECRET)"
        )
    if secret is None:
        raise RegistryError(
            "give a tester's token (--inspector-token-stdin, -env or -file), "
            "or --app-id with the app secret (--app-secret-stdin, -env or -file)"
        )
    try:
        return platform_named(platform).app_token(str(app_id), secret), "app_token", None
    except GraphError:
        # The message names the rule, never the secret.
        raise RegistryError("--app-id and the app secret must not contain '|'") from None


def cmd_apps_add(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    inspector, kind, secret = _inspector(args, args.app_id, args.platform)
    check = inspector_check(ctx, None, inspector, args.platform) if args.check else None
    if check is not None and check.refused:
        print(f"app {args.name} not added: {check.text}")
        return 1
    with transaction(ctx.sessions) as s:
        app = add_app(
            s, ctx.vault, args.name, inspector, kind=kind, threads_app_id=args.app_id, now=ctx.now(),
            platform=args.platform,
        )  # fmt: skip
        if check is not None and check.works:
            app.inspector_state, app.inspector_checked_at = "ok", ctx.now()
        if secret is not None:
            set_app_secret(s, ctx.vault, args.name, secret)
        out = app_json(app, 0)
    if args.json:
        print_json(out | ({"check": check.text} if check else {}))
    else:
        print(
            f"added {args.platform} app {args.name} "
            f"(inspector {kind}, fingerprint {out['inspector_fingerprint']})"
        )
        if check is not None:
            print(check.text)
    return 1 if check is not None and not check.works else 0


def cmd_apps_set_inspector(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    with ctx.sessions() as s:
        row = get_app(s, args.name)
        app_id, app_pk, platform = args.app_id or row.threads_app_id, row.id, row.platform
    inspector, kind, secret = _inspector(args, app_id, platform)
    check = inspector_check(ctx, app_pk, inspector, platform)
    if check.refused:
        print(f"inspector of app {args.name} not replaced: {check.text}")
        return 1
    with transaction(ctx.sessions) as s:
        app = set_inspector(
            s, ctx.vault, args.name, inspector, kind=kind, now=ctx.now(),
            state="ok" if check.works else None, threads_app_id=args.app_id,
        )  # fmt: skip
        if secret is not None:
            set_app_secret(s, ctx.vault, args.name, secret)
        out = app_json(app, 0) | {"check": check.text}
    if args.json:
        print_json(out)
    else:
        print(
            f"replaced the inspector of app {args.name} ({kind}, fingerprint {out['inspector_fingerprint']})"
        )
        print(check.text)
    return 0 if check.works else 1


def cmd_apps_set_secret(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_schema()
    secret = read_secret(args, "app-secret", "app secret")
    assert secret is not None  # argparse requires one of the three
    with transaction(ctx.sessions) as s:
        set_app_secret(s, ctx.vault, args.name, secret)
    print(f"stored the app secret of {args.name}: its deauthorize callbacks can be verified")
    return 0
