"""Trying an inspector credential against the app's platform API before it is stored (`apps add --check`,
`apps set-inspector`): one debug_token call about one of the app's tokens (or the credential itself)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from monitor.context import Context
from monitor.db.models import Token
from monitor.graph.client import GraphClient
from monitor.graph.results import Verdict
from monitor.notify.text import INSPECTOR_REASONS

ANSWERED = (Verdict.VALID, Verdict.INVALID)


@dataclass(frozen=True)
class InspectorCheck:
    """What the API said: `works` (it answered about a token), `refused` (Meta refused the credential:
    store nothing), neither (no answer now: network, throttling). `text` says it for people."""

    works: bool
    refused: bool
    text: str


def inspector_check(
    ctx: Context, app_id: int | None, inspector: str, platform: str = "threads"
) -> InspectorCheck:
    """Inspect one of the app's tokens (the most recently answered; the credential itself for an app
    without tokens: a tester token inspects itself) with `inspector`."""
    sample, about = inspector, "the credential itself"
    if app_id is not None:
        with ctx.sessions() as s:
            row = s.execute(
                select(Token.name, Token.secret)
                .where(Token.app_id == app_id)
                .order_by(Token.last_success_at.is_(None), Token.last_success_at.desc())
                .limit(1)
            ).first()
        if row is not None:
            sample, about = ctx.vault.decrypt(row.secret), f"token {row.name}"
    cfg = ctx.config.threads
    client = GraphClient(
        base_url=cfg.base_url,
        api_version=cfg.api_version,
        hosts=ctx.config.platforms.hosts(),
        timeout=cfg.timeout,
        retries=cfg.retries,
    )
    try:
        result = client.inspect(platform, sample, inspector)
    finally:
        client.close()
    if result.verdict == Verdict.INSPECTOR:
        why = INSPECTOR_REASONS.get(result.reason or "", result.message or result.reason or "refused")
        return InspectorCheck(False, True, f"Meta refused the inspector credential: {why}")
    if result.verdict in ANSWERED:
        return InspectorCheck(True, False, f"checked: the inspector credential works (asked about {about})")
    return InspectorCheck(
        False, False, f"could not be checked now ({result.reason or result.verdict.value}): stored unchecked"
    )
