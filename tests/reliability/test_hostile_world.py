"""The three failures reproduced against the running daemon (issue 16), end to end.

1. One slow notification endpoint must not stall every channel.
2. An API that answers a refresh with the same expiry must not cause a refresh storm.
3. A source query with its columns swapped must not print, store or label token strings.
Each runs the real daemon (a child process, as systemd runs it) against the simulator and real receivers;
the autouse `evidence` fixture scans everything produced for registered secrets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from helpers_daemon import Fleet, wait_until
from receivers import HttpReceiver, TricklingReceiver
from sqlalchemy import update

from monitor.db.models import Token
from monitor.db.session import transaction
from monitor.simulator import Simulator

from .conftest import Evidence, Monitor, http_get, with_notifiers

DAY = 86400.0


def alertnames(receiver: HttpReceiver) -> list[str]:
    return [a["labels"]["alertname"] for r in receiver.requests.items for a in json.loads(r.body)["alerts"]]


def test_a_trickling_receiver_delays_only_itself(
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    hook: HttpReceiver,
    evidence: Evidence,
) -> None:
    """The slow webhook accepts every notification and answers one byte a second; the healthy one must
    still get a TokenInvalid that fires while the slow one is holding its delivery."""
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("1")
    (expiring,) = fleet.add_tokens("1", 1, prefix="expiring", expires_at=time.time() + DAY)
    (revoked,) = fleet.add_tokens("1", 1, prefix="healthy", expires_at=time.time() + 50 * DAY)
    with TricklingReceiver(every=1.0) as slow:
        with_notifiers(
            fleet,
            f'[[notifiers]]\nname = "slow"\ntype = "webhook"\nurl = "{slow.url("/slow")}"\ntimeout = "3s"\n\n'
            f'[[notifiers]]\nname = "fast"\ntype = "webhook"\nurl = "{hook.url("/fast")}"\ntimeout = "3s"\n',
        )
        monitor = start_monitor(fleet)
        wait_until(lambda: "TokenExpiring" in alertnames(hook), 60, "TokenExpiring at the healthy receiver")
        slow.wait_for(1, timeout=30)  # the slow one has the same message and is trickling its answer

        sim.update_token(fleet.tokens[revoked], state="revoked")
        with transaction(fleet.ctx.sessions) as s:
            s.execute(update(Token).where(Token.name == revoked).values(next_check_at=0))
        wait_until(lambda: "TokenInvalid" in alertnames(hook), 30, "TokenInvalid at the healthy receiver")
        assert monitor.alive()
    evidence.add("daemon output", monitor.output())


def test_a_refresh_the_api_does_not_reflect_is_a_failure_not_a_storm(
    sqlite_url: str,
    sim: Simulator,
    fleets: Callable[..., Fleet],
    start_monitor: Callable[..., Monitor],
    hook: HttpReceiver,
    evidence: Evidence,
) -> None:
    """The API answers the refresh, but debug_token keeps showing the old expiry for the new string."""
    fleet = fleets(sqlite_url, sim)
    fleet.add_app("1")
    now = time.time()
    (name,) = fleet.add_tokens("1", 1, prefix="lagging", issued_at=now - 30 * DAY, expires_at=now + 5 * DAY)
    sim.update_token(fleet.tokens[name], refresh_lags=True)
    with transaction(fleet.ctx.sessions) as s:
        s.execute(update(Token).where(Token.name == name).values(auto_refresh=True))
    with_notifiers(fleet, f'[[notifiers]]\nname = "hooks"\ntype = "webhook"\nurl = "{hook.url("/h")}"\n')
    monitor = start_monitor(fleet)

    wait_until(lambda: "TokenRefreshFailed" in alertnames(hook), 60, "TokenRefreshFailed at the receiver")
    sweeps = json.loads(http_get(monitor.base + "/healthz")[1])["sweeps"]
    # Several more sweeps and refresh ticks (1 s apart) run; none may refresh the token again.
    wait_until(
        lambda: json.loads(http_get(monitor.base + "/healthz")[1])["sweeps"] >= sweeps + 5,
        60,
        "five more sweeps",
    )
    assert sim.calls(endpoint="refresh_access_token") == 1
    assert monitor.alive()
    evidence.add("daemon output", monitor.output())
