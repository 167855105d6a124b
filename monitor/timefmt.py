"""Time formatting for people: durations in words, UTC timestamps in ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS: tuple[tuple[str, int], ...] = (
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _parts(total: int) -> list[str]:
    parts: list[str] = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(_plural(count, unit))
        if len(parts) == 2:
            break
    return parts


def humanize_duration(seconds: float) -> str:
    """Return the two largest non-zero units of a duration, e.g. "1 day 4 hours" or "45 minutes".

    The sign is ignored (callers phrase the past as "... ago"). The value is rounded to the nearest
    second unit shown, so 23 hours 59 minutes 59.9 seconds reads "1 day", not "23 hours 59 minutes".
    """
    total = abs(seconds)
    for index, (_unit, size) in enumerate(_UNITS):
        if total >= size or size == 1:
            smaller = _UNITS[min(index + 1, len(_UNITS) - 1)][1]
            total = round(total / smaller) * smaller
            break
    parts = _parts(int(total))
    return " ".join(parts) if parts else "0 seconds"


def iso_utc(ts: float) -> str:
    """Format Unix seconds as RFC 3339 / ISO 8601 UTC with second precision: "2026-12-01T10:00:00Z"."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> float:
    """Unix seconds of an ISO 8601 time ("2027-01-31T00:00Z", "2027-01-31T00:00:00+01:00", "2027-01-31");
    without an offset it is UTC. ValueError names the expected form."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 in UTC, e.g. 2027-01-31T00:00Z or 2027-01-31"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rfc3339(ts: float) -> str:
    """Format Unix seconds as RFC 3339 UTC, keeping milliseconds when there are any (for JSON payloads)."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(ts: float, now: float) -> str:
    """Describe `ts` relative to `now`: "in 1 day 4 hours", "2 hours ago", or "now" within a second."""
    delta = ts - now
    if abs(delta) < 1:
        return "now"
    words = humanize_duration(delta)
    return f"in {words}" if delta > 0 else f"{words} ago"
