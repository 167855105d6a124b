"""The reload boundary: read the configuration again and apply it, or keep the one in force.

Whatever goes wrong (a file that cannot be read or is not valid, a part refusing its new settings) is logged,
the previous configuration is applied again where it had been half replaced, the refusal is counted and
systemd is told; a reload never ends the daemon.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from monitor.config.load import Config, ConfigError, load_config
from monitor.daemon.jobhealth import ReloadStatus
from monitor.daemon.sdnotify import SdNotifier
from monitor.redact import error_line

__all__ = ["reload_config"]

log = logging.getLogger("monitor.daemon")

KEPT = "reload refused, still running on the previous configuration"


def reload_config(
    path: str | os.PathLike[str],
    *,
    current: Config,
    apply: Callable[[Config], None],
    reloads: ReloadStatus,
    sd: SdNotifier,
    clock: Callable[[], float],
) -> bool:
    """Load `path` and `apply` it; True when it is in force. On failure `current` stays (or is applied
    again) and the answer is False."""
    sd.reloading()
    try:
        new = load_config(os.fspath(path))
    except ConfigError as exc:
        return _refused(f"{KEPT}:\n{exc}", reloads, sd, clock)
    except Exception as exc:  # the boundary: no reason to read a file may end monitoring
        return _refused(f"{KEPT}: {error_line(exc)}", reloads, sd, clock)
    try:
        apply(new)
    except Exception as exc:
        log.error(
            "reload failed while applying %s: %s; restoring the previous configuration",
            path,
            error_line(exc),
        )
        try:
            apply(current)
        except Exception as again:
            log.error("restoring the previous configuration failed too: %s", error_line(again))
        return _refused(KEPT, reloads, sd, clock)
    log.info("configuration reloaded from %s", path)
    reloads.reloaded(True, clock())
    sd.ready("configuration reloaded")
    return True


def _refused(message: str, reloads: ReloadStatus, sd: SdNotifier, clock: Callable[[], float]) -> bool:
    log.error("%s", message)
    reloads.reloaded(False, clock())
    sd.ready("reload refused: invalid configuration (see the log)")
    return False
