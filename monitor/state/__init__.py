"""A token's state: the pure rule (monitor.state.rule, re-exported here) and, in monitor.state.sql, the same
rule written for queries. Everything that needs to know what a token's state is asks this package."""

from monitor.state.rule import (
    ANSWERED,
    BUCKETS,
    DAY,
    FAILED,
    STATES,
    Horizons,
    InspectorState,
    State,
    Verdict,
    bucket_of,
    expiry_word,
    horizon_level,
    lost_scopes,
    mute_in_force,
    seen_result,
    token_state,
    trouble_key,
)

__all__ = [
    "ANSWERED",
    "BUCKETS",
    "DAY",
    "FAILED",
    "STATES",
    "Horizons",
    "InspectorState",
    "State",
    "Verdict",
    "bucket_of",
    "expiry_word",
    "horizon_level",
    "lost_scopes",
    "mute_in_force",
    "seen_result",
    "token_state",
    "trouble_key",
]
