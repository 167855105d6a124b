"""The `/__sim/` control surface, for a simulator in another process (benchmarks, reliability tests).

GET /__sim/stats                      calls per endpoint, per platform, and in total
GET /__sim/reset | /__sim/clear       zero the counters | drop every fault
GET /__sim/fault?kind=K[&token=T][&endpoint=E][&platform=P][&count=N][&param=V...]
GET /__sim/revoke?token=T             a user removes the app: revoked, and a deauthorize callback if set up
GET /__sim/update?token=T&field=V...  change a token's fields (state, expires_at, scopes=a,b ...)
GET /__sim/never?token=T              the token never expires from now on
GET /__sim/targets?token=T&scope=S[&target_ids=a,b]   a granular scope's targets (absent: all)
GET /__sim/instagram_debug?mode=M     error | partial | full
GET /__sim/token?token=T              the token's record as it is now
GET /__sim/callback_url?url=U[&kind=deauthorize|data-deletion][&app=ID]   where callbacks go ("{app}"...)
GET /__sim/data_deletion?token=T[&revoke=1]   send Meta's data deletion request now; its record
GET /__sim/callbacks                  every callback sent, with the answers
POST /__sim/load                      JSON {"apps": [...], "tokens": [...], "faults": [...],
                                      "instagram_debug": M}, as `--tokens FILE` reads it
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from monitor.simulator.api import ENDPOINTS, PLATFORMS, MetaApi
from monitor.simulator.callbacks import DEAUTHORIZE, KINDS, CallbackError

if TYPE_CHECKING:
    from monitor.simulator.server import Simulator

Result = tuple[int, dict[str, Any]]
_OK: Result = (200, {"ok": True})


def load_doc(sim: MetaApi, doc: dict[str, Any]) -> None:
    """Register what a tokens document holds: apps, tokens, faults, and Instagram's debug_token mode."""
    for app in doc.get("apps", []):
        sim.add_app(**app)
    for token in doc.get("tokens", []):
        sim.add_token(**token)
    for fault in doc.get("faults", []):
        sim.set_fault(**fault)
    if "instagram_debug" in doc:
        sim.set_instagram_debug(doc["instagram_debug"])


def control(sim: Simulator, action: str, query: dict[str, str], body: bytes = b"") -> Result:
    """(HTTP status, JSON answer) for one control request; bad input is a 400 or 404 that changes nothing."""
    handler = _ACTIONS.get(action)
    if handler is None:
        return 404, {"error": f"unknown control action {action!r}"}
    try:
        return handler(sim, dict(query), body)
    except KeyError:
        return 404, {"error": "unknown token or app"}
    except (ValueError, TypeError) as exc:  # CallbackError is a ValueError
        return 400, {"error": str(exc)}


def _stats(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    answer: dict[str, Any] = {endpoint: sim.calls(endpoint=endpoint) for endpoint in ENDPOINTS}
    answer["platforms"] = {name: sim.calls(platform=name) for name in PLATFORMS}
    answer["total"] = sim.calls()
    return 200, answer


def _reset(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    sim.reset_counters()
    return _OK


def _clear(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    sim.clear_faults()
    return _OK


def _fault(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    kind = query.pop("kind", "")
    token, endpoint = query.pop("token", None), query.pop("endpoint", None)
    count = int(query.pop("count")) if "count" in query else None
    params = {k: _number(v) for k, v in query.items()}
    sim.set_fault(kind, token=token, endpoint=endpoint, count=count, **params)
    return _OK


def _revoke(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    app_id, user_id, _ = sim.revoke(query.get("token", ""))
    return 200, {"ok": True, "app": app_id, "user_id": user_id}


def _update(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    token = query.pop("token", "")
    fields: dict[str, Any] = {k: _number(v) for k, v in query.items()}
    if "scopes" in query:
        fields["scopes"] = [s for s in query["scopes"].split(",") if s]
    sim.update_token(token, **fields)
    return _OK


def _never(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    sim.make_never_expiring(query.get("token", ""))
    return _OK


def _targets(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    raw = query.get("target_ids")
    targets = None if raw is None else [t for t in raw.split(",") if t]
    sim.set_granular_targets(query.get("token", ""), query.get("scope", ""), targets)
    return _OK


def _instagram_debug(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    sim.set_instagram_debug(query.get("mode", ""))
    return _OK


def _token(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    return 200, sim.token_state(query.get("token", ""))


def _callback_url(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    kind, url = query.get("kind", DEAUTHORIZE), query.get("url") or None
    if kind not in KINDS:
        raise ValueError(f"unknown callback kind {kind!r}; one of {KINDS}")
    if "app" in query:
        field = "deauthorize_url" if kind == DEAUTHORIZE else "data_deletion_url"
        sim.registry.update_app(query["app"], **{field: url})
    else:
        sim.callbacks.templates[kind] = url
    return _OK


def _data_deletion(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    revoke = query.get("revoke", "") in ("1", "true")
    try:
        return 200, sim.request_data_deletion(query.get("token", ""), revoke=revoke)
    except CallbackError as exc:
        return 409, {"error": str(exc)}


def _callbacks(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    return 200, {"callbacks": sim.callbacks_sent()}


def _load(sim: Simulator, query: dict[str, str], body: bytes) -> Result:
    doc = json.loads(body or b"{}")
    if not isinstance(doc, dict):
        raise ValueError("POST /__sim/load takes a JSON object")
    load_doc(sim, doc)
    return _OK


_ACTIONS: dict[str, Callable[[Simulator, dict[str, str], bytes], Result]] = {
    "stats": _stats,
    "reset": _reset,
    "clear": _clear,
    "fault": _fault,
    "revoke": _revoke,
    "update": _update,
    "never": _never,
    "targets": _targets,
    "instagram_debug": _instagram_debug,
    "token": _token,
    "callback_url": _callback_url,
    "data_deletion": _data_deletion,
    "callbacks": _callbacks,
    "load": _load,
}


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value
