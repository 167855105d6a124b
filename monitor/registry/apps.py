"""The registry's apps: register one with its inspector credential, replace that credential, store the
secret that signs its callbacks, list and remove them."""

from __future__ import annotations

import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.crypto import Vault, fingerprint
from monitor.db.models import Alert, App, Token
from monitor.graph.platforms import PLATFORMS
from monitor.registry.names import RegistryError, check_app_secret, check_name, check_token_string
from monitor.registry.tokens import check_key, delete_tokens
from monitor.state import Verdict

__all__ = ["add_app", "get_app", "list_apps", "remove_app", "set_app_secret", "set_inspector"]


def add_app(
    session: Session,
    vault: Vault,
    name: str,
    inspector: str,
    *,
    kind: str,
    threads_app_id: str | None,
    now: float,
    platform: str = "threads",
) -> App:
    check_name(name, "app name")
    if platform not in PLATFORMS:
        raise RegistryError(f"unknown platform {platform!r}: one of {', '.join(PLATFORMS)}")
    inspector = check_token_string(inspector, "inspector credential")
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        raise RegistryError(f"an app named {name!r} already exists")
    check_key(session, vault)
    app = App(
        name=name,
        threads_app_id=threads_app_id,
        inspector_kind=kind,
        inspector_secret=vault.encrypt(inspector),
        inspector_fingerprint=fingerprint(inspector),
        created_at=now,
        platform=platform,
    )
    session.add(app)
    session.flush()
    return app


def set_inspector(
    session: Session,
    vault: Vault,
    name: str,
    inspector: str,
    *,
    kind: str,
    now: float,
    state: str | None = None,
    threads_app_id: str | None = None,
) -> App:
    """Replace an app's inspector credential (a tester token expires too). `state` is what a check of the
    new one found ("ok"; None: not checked yet). Its tokens are due for a check at once; an InspectorInvalid
    raised by the old credential ends as "replaced" once the new one answers."""
    inspector = check_token_string(inspector, "inspector credential")
    app = get_app(session, name)
    check_key(session, vault)
    app.inspector_kind = kind
    app.inspector_secret = vault.encrypt(inspector)
    app.inspector_fingerprint = fingerprint(inspector)
    app.inspector_changed_at = now
    app.inspector_state, app.inspector_reason, app.inspector_message = state, None, None
    app.inspector_checked_at = now if state is not None else None
    if threads_app_id is not None:
        app.threads_app_id = threads_app_id
    # Unchecked tokens of a refused inspector wait on its backoff: the new credential checks them now.
    session.execute(
        update(Token)
        .where(Token.app_id == app.id, Token.last_result == Verdict.INSPECTOR.value)
        .values(next_check_at=now),
        execution_options={"synchronize_session": False},
    )
    return app


def set_app_secret(session: Session, vault: Vault, name: str, secret: str) -> App:
    """Store (encrypted) the app secret that signs `name`'s deauthorize callbacks (SPEC 11)."""
    secret = check_app_secret(secret)
    app = get_app(session, name)
    check_key(session, vault)
    app.callback_secret = vault.encrypt(secret)
    return app


def get_app(session: Session, name: str) -> App:
    app = session.scalar(select(App).where(App.name == name))
    if app is None:
        raise RegistryError(f"no app named {name!r} (see `apps list`)")
    return app


def list_apps(session: Session) -> list[tuple[App, int]]:
    counts = dict(session.execute(select(Token.app_id, func.count()).group_by(Token.app_id)).all())
    apps = session.scalars(select(App).order_by(App.name)).all()
    return [(app, counts.get(app.id, 0)) for app in apps]


def remove_app(session: Session, name: str, *, cascade: bool = False, now: float | None = None) -> int:
    """Remove an app; with cascade its tokens too (their alerts end as "app removed"). Returns the number
    of tokens removed. `now` stamps the alerts it ends (default: the time now)."""
    now = time.time() if now is None else now
    app = get_app(session, name)
    ids = list(session.scalars(select(Token.id).where(Token.app_id == app.id)))
    if ids and not cascade:
        raise RegistryError(
            f"app {name!r} still has {len(ids)} token(s): remove them first, or use --cascade"
        )
    delete_tokens(session, ids, now=now, reason="app removed")
    session.execute(
        update(Alert)
        .where(Alert.subject == f"app:{name}", Alert.status == "firing")
        .values(resolved_reason="app removed", updated_at=now),
        execution_options={"synchronize_session": False},
    )
    session.delete(app)
    return len(ids)
