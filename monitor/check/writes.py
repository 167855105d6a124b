"""How a check's results reach the database: each CheckWrite (monitor.check.observe) becomes the parameters
of one batched UPDATE of its token (only while the string checked is still the token's and this owner still
holds its lease) and, when its observation changed, a snapshot row. The only place a write gets bind names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Double, and_, bindparam, func, insert, update
from sqlalchemy.orm import Session

from monitor.check.observe import SPEC16_FACTS, CheckWrite
from monitor.db import addresses
from monitor.db.models import TOKENS, Snapshot

T = TOKENS


_MINE = and_(
    T.c.id == bindparam("b_id"),
    T.c.fingerprint == bindparam("b_fp"),
    T.c.lease_owner == bindparam("b_owner"),
)
# PostgreSQL, first: the row where the claim left it (its new version's address, which nothing moves while
# the lease holds it, unless another write touched the row meanwhile): one heap fetch, where finding it
# through an index read the index too.
_AT_ADDRESS = addresses.at_address(T, "b_addr")

_RESULT_UPDATE = (
    update(T)
    .where(_MINE)
    .values(
        {
            c: bindparam(c)
            for c in (
                "last_check_at",
                "last_success_at",
                "last_result",
                "last_error",
                "consecutive_failures",
                "failing_since",
                "next_check_at",
                "observed_at",
                "is_valid",
                "expires_at",
                "data_access_expires_at",
                "issued_at",
                "scopes",
                "expected_scopes",
                "scopes_lost",
                "token_type",
                "application",
                "user_id",
                "error_code",
                "error_subcode",
                "invalid_reason",
                "expected_targets",
                *SPEC16_FACTS,
            )
        }
        | {"lease_owner": None, "lease_expires_at": None}
        # b_changed: the check's time when it changed what the alert rules read, else None (keep the stamp).
        | {"updated_at": func.coalesce(bindparam("b_changed", type_=Double()), T.c.updated_at)}
    )
)


_RESULT_AT_ADDRESS = _RESULT_UPDATE.where(_AT_ADDRESS)


def _result_params(w: CheckWrite, owner: str) -> dict[str, Any]:
    """_RESULT_UPDATE's parameters for one write: its b_ names pick the row, the others are its columns."""
    return {
        "b_id": w.token_id,
        "b_fp": w.fingerprint,
        "b_owner": owner,
        "b_changed": w.changed_at,
        "expected_scopes": w.expected_scopes,
        "scopes_lost": w.scopes_lost,
        "expected_targets": w.expected_targets,
        "last_check_at": w.at,
        "last_success_at": w.last_success_at,
        "last_result": w.observation.result.value,
        "last_error": w.last_error,
        "consecutive_failures": w.consecutive_failures,
        "failing_since": w.failing_since,
        "next_check_at": w.next_check_at,
        "observed_at": w.at,
        **w.observation.token_columns(),
    }


def write_results(session: Session, owner: str, writes: Sequence[CheckWrite]) -> bool:
    """Store a batch of check outcomes (a snapshot for each changed observation) and release their leases;
    True when every one was stored (each token still the string checked, its lease still `owner`'s)."""
    stored = True
    if writes:
        conn = session.connection()
        counted = conn.dialect.supports_sane_multi_rowcount
        params = [_result_params(w, owner) for w in writes]
        done = 0
        if conn.dialect.name == "postgresql" and all(w.address is not None for w in writes):
            done = conn.execute(
                _RESULT_AT_ADDRESS, [p | {"b_addr": w.address} for p, w in zip(params, writes, strict=True)]
            ).rowcount
        if not (counted and done == len(writes)):
            # By id: every row elsewhere, or those a write moved since the claim (the rows stored at their
            # address have released their lease already, so they match no more).
            done += conn.execute(_RESULT_UPDATE, params).rowcount
        stored = counted and done == len(writes)
    snapshots = [
        {"token_id": w.token_id, "observed_at": w.at, **w.observation.snapshot_columns()}
        for w in writes
        if w.changed
    ]
    if snapshots:
        session.execute(insert(Snapshot), snapshots)
    return stored
