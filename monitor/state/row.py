"""A token as `status`, the pages and the registry API show it: one StatusRow, made from a row in one place
(`StatusRow.from_row`, by column name). Pure: the columns are named in monitor.state.sql.STATUS_SELECT."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from monitor.state.rule import Horizons, State, expiry_word, mute_in_force, seen_result, token_state
from monitor.timefmt import iso_utc

_TIMES = ("expires_at", "data_access_expires_at", "last_check_at", "last_success_at", "callback_check_at")


@dataclass(frozen=True)
class StatusRow:
    name: str
    app: str
    state: State
    expires_at: float | None
    data_access_expires_at: float | None
    last_check_at: float | None
    last_result: str | None
    last_error: str | None
    scopes: tuple[str, ...]
    source: str | None
    reason: str | None
    labels: tuple[tuple[str, str], ...] = ()
    last_success_at: float | None = None
    callback_check_at: float | None = None  # the last check a callback or the recheck API asked for
    callback_check_reason: str | None = None  # deauthorize | recheck
    muted_until: float | None = None  # the mute in force (the token's own or its app's), until then
    mute_comment: str | None = None
    # SPEC 16: the app's platform, debug_token's type, the expiry in words when there is none ("never" or
    # "unknown", expiry_word) and where the expiry and the validity came from.
    platform: str = "threads"
    token_type: str | None = None
    expiry: str | None = None
    expiry_source: str | None = None
    validity_source: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], horizons: Horizons, now: float) -> StatusRow:
        """A row of monitor.state.sql.STATUS_SELECT's columns, by name (`row._mapping`; more columns may be
        there: they are ignored), with its state now."""
        result = seen_result(row["last_result"], row["inspector_state"])
        state = token_state(
            is_valid=row["is_valid"],
            expires_at=row["expires_at"],
            data_access_expires_at=row["data_access_expires_at"],
            last_result=result,
            horizons=horizons,
            now=now,
        )
        until, comment = mute_of(
            row["muted_until"], row["mute_comment"], row["app_muted_until"], row["app_mute_comment"], now=now
        )
        return cls(
            name=row["name"],
            app=row["app"],
            state=state,
            expires_at=row["expires_at"],
            data_access_expires_at=row["data_access_expires_at"],
            last_check_at=row["last_check_at"],
            last_result=result,
            last_error=row["last_error"],
            scopes=tuple((row["scopes"] or "").split()),
            source=row["source"],
            reason=row["invalid_reason"],
            labels=label_pairs(row["labels"]),
            last_success_at=row["last_success_at"],
            callback_check_at=row["callback_check_at"],
            callback_check_reason=row["callback_check_reason"],
            muted_until=until,
            mute_comment=comment,
            platform=row["platform"] or "threads",
            token_type=row["token_type"],
            expiry=expiry_word(row["expires_at"], row["expiry_source"], row["validity_source"]),
            expiry_source=row["expiry_source"],
            validity_source=row["validity_source"],
        )

    def to_json(self) -> dict:
        out = asdict(self)
        out["state"] = str(self.state)  # the text, also when a test built the row from a plain string
        for key in (*_TIMES, "muted_until"):
            out[key] = iso_utc(out[key]) if out[key] else None
        out["scopes"] = list(self.scopes)
        out["labels"] = dict(self.labels)
        return out


def label_pairs(labels: object) -> tuple[tuple[str, str], ...]:
    """A token's JSON labels as sorted (key, value) text pairs (anything but a dict gives none)."""
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def mute_of(
    token_until: float | None,
    token_comment: str | None,
    app_until: float | None,
    app_comment: str | None,
    *,
    now: float,
) -> tuple[float | None, str | None]:
    """(end, comment) of the mute in force on a token (its own, or its app's when that lasts longer)."""
    until = mute_in_force(token_until, app_until, now)
    if until is None:
        return None, None
    return until, token_comment if until == token_until else app_comment
