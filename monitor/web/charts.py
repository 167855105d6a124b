"""Inline SVG charts for the status pages: expiries per day, and a token's time left over its history. Pure.

The SVG is markup inside the page (no script, no external asset); every text in it passes through
html.escape. Charts scale to their container (viewBox, width 100%) so they fit a phone as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from monitor.state import Horizons

DAY = 86400.0
BLUE, PURPLE, RED, AMBER = "#1a73e8", "#8e24aa", "#d93025", "#f9ab00"
LEFT, WIDTH = 34.0, 600.0  # the y-axis labels' margin, and the plot's width in viewBox units


def _date(at: float, fmt: str = "%b %d") -> str:
    return datetime.fromtimestamp(at, UTC).strftime(fmt)


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above `value` (an axis top that reads well)."""
    step = 1.0
    while True:
        for m in (1.0, 2.0, 5.0):
            if m * step >= value:
                return m * step
        step *= 10


def _svg(height: float, label: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {LEFT + WIDTH + 6:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _axis(top: float, y0: float, height: float, unit: str) -> str:
    """Horizontal grid lines at 0, half and the top of the scale, labelled on the left."""
    out = []
    for frac in (0.0, 0.5, 1.0):
        y = y0 - frac * height
        value = f"{top * frac:g}"
        out.append(f'<line x1="{LEFT}" x2="{LEFT + WIDTH}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" class="tick" text-anchor="end">{value}{unit}</text>'
        )
    return "".join(out)


def day_bars(start: float, expiring: Sequence[int], data_access: Sequence[int], h: Horizons) -> str:
    """Bars per day from `start` (a UTC midnight): tokens expiring (blue), losing data access (purple).

    The expiry thresholds tint the first days (critical red, warning amber), so a wave shows where it lands.
    """
    days = max(len(expiring), 1)
    slot, top, y0, plot = WIDTH / days, _nice_max(max([*expiring, *data_access, 2])), 120.0, 110.0
    parts = [_band(0, h.expiry_critical / DAY * slot, y0, plot, RED),
             _band(h.expiry_critical / DAY * slot, h.expiry_warning / DAY * slot, y0, plot, AMBER),
             _axis(top, y0, plot, "")]  # fmt: skip
    for i, (e, d) in enumerate(zip(expiring, data_access, strict=True)):
        x = LEFT + i * slot
        if e or d:
            tip = f"{_date(start + i * DAY, '%Y-%m-%d')}: {e} expire, {d} lose data access"
            bars = _bar(x + slot * 0.1, slot * 0.4, e, top, y0, plot, BLUE)
            bars += _bar(x + slot * 0.5, slot * 0.4, d, top, y0, plot, PURPLE)
            parts.append(f"<g><title>{escape(tip)}</title>{bars}</g>")
        if i % 7 == 0:
            parts.append(f'<text x="{x:.1f}" y="{y0 + 14}" class="tick">{_date(start + i * DAY)}</text>')
    label = f"tokens reaching a horizon per day over the next {days} days"
    return _svg(y0 + 20, label, "".join(parts))


def _band(x_from: float, x_to: float, y0: float, plot: float, colour: str) -> str:
    width = max(0.0, min(x_to, WIDTH) - x_from)
    return (
        f'<rect x="{LEFT + x_from:.1f}" y="{y0 - plot:.1f}" width="{width:.1f}" height="{plot:.1f}" '
        f'fill="{colour}" fill-opacity="0.12"/>'
    )


def _bar(x: float, width: float, n: int, top: float, y0: float, plot: float, colour: str) -> str:
    if not n:
        return ""
    height = max(1.0, n / top * plot)
    return (
        f'<rect x="{x:.1f}" y="{y0 - height:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}"/>'
    )


@dataclass(frozen=True)
class Observation:
    """One snapshot as the timeline reads it (oldest first)."""

    at: float
    valid: bool | None
    expires_at: float | None
    data_access_expires_at: float | None


@dataclass(frozen=True)
class _Panel:
    title: str
    warning: float
    critical: float
    colour: str
    horizon: str  # the Observation attribute


def timeline(observations: Sequence[Observation], now: float, h: Horizons) -> str:
    """Days left on each horizon from the first observation to now, against the thresholds.

    Between two observations the time left falls one day per day; a refresh shows as the line jumping up
    (marked with a dot); an invalid stretch is a red bar on the floor. At least a week is shown.
    """
    if not observations:
        return '<p class="meta">No observation yet.</p>'
    t0 = min(observations[0].at, now - 7 * DAY)
    panels = (
        _Panel("Token expiry", h.expiry_warning, h.expiry_critical, BLUE, "expires_at"),
        _Panel(
            "Data access", h.data_access_warning, h.data_access_critical, PURPLE, "data_access_expires_at"
        ),
    )
    body = "".join(_panel(p, observations, t0, now, 10 + k * 125) for k, p in enumerate(panels))
    return _svg(265, "time left on each horizon over the token's history", body)


def _segments(
    observations: Sequence[Observation], horizon: str, now: float
) -> list[tuple[float, float, float]]:
    """(from, to, horizon timestamp) for each stretch with a known horizon while the token was valid."""
    out = []
    for i, o in enumerate(observations):
        end = observations[i + 1].at if i + 1 < len(observations) else now
        value = getattr(o, horizon)
        if value is not None and o.valid is not False and end > o.at:
            out.append((o.at, end, value))
    return out


@dataclass(frozen=True)
class _Frame:
    """Where a panel's plot sits: time from t0 to now across, days left from 0 to `top` upwards."""

    t0: float
    now: float
    y0: float
    top: float
    plot: float = 90.0

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.now - self.t0) * WIDTH

    def y(self, days: float) -> float:
        return self.y0 - max(0.0, min(days, self.top)) / self.top * self.plot


def _panel(p: _Panel, observations: Sequence[Observation], t0: float, now: float, top_y: float) -> str:
    segments = _segments(observations, p.horizon, now)
    peak = max([(v - a) / DAY for a, _, v in segments] + [p.warning / DAY * 1.5])
    f = _Frame(t0, now, top_y + 95, _nice_max(peak))
    parts = [
        _hband(f, 0, p.critical / DAY, RED),
        _hband(f, p.critical / DAY, p.warning / DAY, AMBER),
        _axis(f.top, f.y0, f.plot, "d"),
        f'<text x="{LEFT + 4}" y="{top_y + 4}" class="ptitle">{p.title}</text>',
        *_line(f, segments, p.colour),
        *_invalid_marks(f, observations),
        f'<text x="{LEFT}" y="{f.y0 + 13}" class="tick">{_date(t0, "%Y-%m-%d")}</text>',
        f'<text x="{LEFT + WIDTH}" y="{f.y0 + 13}" class="tick" text-anchor="end">now</text>',
    ]
    if not segments and not any(o.valid is False for o in observations):
        parts.append(
            f'<text x="{LEFT + WIDTH / 2}" y="{f.y(f.top / 2):.1f}" class="tick" '
            'text-anchor="middle">never expires</text>'
        )
    return "".join(parts)


def _line(f: _Frame, segments: list[tuple[float, float, float]], colour: str) -> list[str]:
    """The saw-tooth of days left, and a dot where a refresh pushed the horizon forward."""
    path, dots, last = [], [], None
    for a, b, v in segments:
        x, y = f.x(a), f.y((v - a) / DAY)
        path.append(f"{'L' if last is not None and last[0] == a else 'M'}{x:.1f},{y:.1f}")
        path.append(f"L{f.x(b):.1f},{f.y((v - b) / DAY):.1f}")
        if last is not None and v > last[1] + 3600:
            tip = escape(f"refreshed {_date(a, '%Y-%m-%d %H:%M')} UTC, now ends {_date(v, '%Y-%m-%d')}")
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{tip}</title></circle>'
            )
        last = (b, v)
    if not path:
        return []
    return [f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>', *dots]


def _hband(f: _Frame, low: float, high: float, colour: str) -> str:
    y_low, y_high = f.y(low), f.y(high)
    return (
        f'<rect x="{LEFT}" y="{y_high:.1f}" width="{WIDTH}" height="{y_low - y_high:.1f}" '
        f'fill="{colour}" fill-opacity="0.14"/>'
    )


def _invalid_marks(f: _Frame, observations: Sequence[Observation]) -> list[str]:
    out = []
    for i, o in enumerate(observations):
        if o.valid is False:
            end = observations[i + 1].at if i + 1 < len(observations) else f.now
            x1, x2 = f.x(o.at), f.x(end)
            tip = f"invalid from {_date(o.at, '%Y-%m-%d')}"
            out.append(
                f'<rect x="{x1:.1f}" y="{f.y0 - 4:.1f}" width="{max(2.0, x2 - x1):.1f}" height="4" '
                f'fill="{RED}"><title>{tip}</title></rect>'
            )
    return out
