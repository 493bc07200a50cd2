"""Small SVG charts for the HTML reports: a time series with marks, dot strips, lanes.

Hand-written on purpose: a report needs three kinds of chart, and inline SVG
draws them with no plotting library and nothing to load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 960
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 20, 28, 36


@dataclass(slots=True)
class Series:
    """One line of a time series."""

    name: str
    colour: str
    points: list[tuple[float, float]]


@dataclass(slots=True)
class Mark:
    """A vertical line at ``x``, labelled: a kill, a restart..."""

    x: float
    label: str
    colour: str
    dashed: bool = False


@dataclass(slots=True)
class Span:
    """A shaded stretch of ``x``: a partition."""

    start: float
    end: float
    label: str
    colour: str = "#f3d9a4"


@dataclass(slots=True)
class Strip:
    """One row of dots: the values of one figure over the repeats."""

    name: str
    values: list[float]
    colour: str = "#1f5fa8"
    note: str = ""


@dataclass(slots=True)
class Bar:
    """A stretch of one lane: a node incarnation's life."""

    start: float
    end: float
    label: str
    colour: str = "#9cc3e6"


@dataclass(slots=True)
class Lane:
    """One row of bars, with marks on it."""

    name: str
    bars: list[Bar] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round values from ``low`` to ``high`` (1, 2 or 5 times a power of 10)."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks: list[float] = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def fmt_number(value: float) -> str:
    """``1,234`` or ``0.25``: short, for axis labels."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_seconds(value: float) -> str:
    """A duration with its unit: ``850 µs``, ``12.5 ms``, ``1.20 s``."""
    if value < 1e-3:
        return f"{value * 1e6:.3g} \u00b5s"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def time_series(
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    marks: Sequence[Mark] = (),
    spans: Sequence[Span] = (),
    height: int = 320,
) -> str:
    """Lines over time, with vertical marks and shaded spans."""
    xs = [x for s in series for x, _ in s.points] + [m.x for m in marks]
    xs += [v for sp in spans for v in (sp.start, sp.end)]
    ys = [y for s in series for _, y in s.points]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high <= x_low:
        x_high = x_low + 1
    y_high = max(ys, default=1.0) * 1.08 or 1.0
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = height - PAD_TOP - PAD_BOTTOM

    def px(x: float) -> float:
        return PAD_LEFT + (x - x_low) / (x_high - x_low) * inner_w

    def py(y: float) -> float:
        return PAD_TOP + inner_h - y / y_high * inner_h

    out = [f'<svg class="chart" width="{WIDTH}" height="{height}" role="img">']
    for sp in spans:
        out.append(
            f'<rect class="span" x="{px(sp.start):.1f}" y="{PAD_TOP}" '
            f'width="{max(px(sp.end) - px(sp.start), 1):.1f}" height="{inner_h}" '
            f'fill="{sp.colour}" opacity="0.5"><title>{escape(sp.label)}</title></rect>'
        )
    out.extend(_axes(x_low, x_high, 0.0, y_high, px, py, x_label, y_label, height))
    for s in series:
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        out.append(
            f'<polyline class="series" fill="none" stroke="{s.colour}" stroke-width="1.8" '
            f'points="{coords}"><title>{escape(s.name)}</title></polyline>'
        )
    for i, m in enumerate(marks):
        dash = ' stroke-dasharray="5 3"' if m.dashed else ""
        x = px(m.x)
        out.append(
            f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" '
            f'y2="{PAD_TOP + inner_h}" stroke="{m.colour}" stroke-width="1.5"{dash}>'
            f"<title>{escape(m.label)}</title></line>"
            f'<text x="{x + 3:.1f}" y="{PAD_TOP + 10 + (i % 3) * 11}" font-size="10" '
            f'fill="{m.colour}">{escape(m.label)}</text>'
        )
    out.append(_key([(s.name, s.colour) for s in series]))
    out.append("</svg>")
    return "".join(out)


def strips(rows: Sequence[Strip], *, log: bool, fmt: Callable[[float], str]) -> str:
    """One row of dots per figure, the median as a bar, on a shared (log) axis."""
    values = [v for r in rows for v in r.values if math.isfinite(v) and (v > 0 or not log)]
    row_h = 30
    height = PAD_TOP + PAD_BOTTOM + row_h * max(len(rows), 1)
    left = 230
    inner_w = WIDTH - left - PAD_RIGHT - 120
    if not values:
        return f'<p class="empty">no values ({len(rows)} figures, none measured)</p>'
    low, high = min(values), max(values)
    if log:
        low, high = 10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high))
    elif high == low:
        low, high = low * 0.9, high * 1.1 + 1e-12
    else:
        low = min(0.0, low)

    def px(v: float) -> float:
        if log:
            return (
                left
                + (math.log10(v) - math.log10(low))
                / (math.log10(high) - math.log10(low) or 1)
                * inner_w
            )
        return left + (v - low) / (high - low) * inner_w

    out = [f'<svg class="chart strips" width="{WIDTH}" height="{height}" role="img">']
    ticks = (
        [10**k for k in range(round(math.log10(low)), round(math.log10(high)) + 1)]
        if log
        else nice_ticks(low, high)
    )
    bottom = height - PAD_BOTTOM
    for t in ticks:
        x = px(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{bottom}" stroke="#e4e4e4"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">'
            f"{escape(fmt(t))}</text>"
        )
    for i, row in enumerate(rows):
        y = PAD_TOP + row_h * i + row_h / 2
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
            f"{escape(row.name)}</text>"
        )
        good = [v for v in row.values if math.isfinite(v) and (v > 0 or not log)]
        if not good:
            out.append(
                f'<text x="{left}" y="{y + 4:.1f}" font-size="11" fill="#999">'
                f"{escape(row.note or 'not measured')}</text>"
            )
            continue
        lo, hi = px(min(good)), px(max(good))
        out.append(
            f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{row.colour}" stroke-width="2" opacity="0.4"/>'
        )
        for v in good:
            out.append(
                f'<circle class="dot" cx="{px(v):.1f}" cy="{y:.1f}" r="4" fill="{row.colour}" '
                f'opacity="0.75"><title>{escape(fmt(v))}</title></circle>'
            )
        mid = px(_median(good))
        out.append(
            f'<line class="median" x1="{mid:.1f}" x2="{mid:.1f}" y1="{y - 9:.1f}" '
            f'y2="{y + 9:.1f}" stroke="#111" stroke-width="2.5"/>'
        )
        out.append(
            f'<text x="{WIDTH - PAD_RIGHT - 110}" y="{y + 4:.1f}" font-size="11">'
            f"median {escape(fmt(_median(good)))}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def lanes(rows: Sequence[Lane], *, x_low: float, x_high: float, x_label: str) -> str:
    """One row per node: a bar per incarnation, marks for what happened to it."""
    row_h = 24
    height = PAD_TOP + PAD_BOTTOM + row_h * max(len(rows), 1)
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    span = (x_high - x_low) or 1.0

    def px(x: float) -> float:
        return PAD_LEFT + (x - x_low) / span * inner_w

    out = [f'<svg class="chart lanes" width="{WIDTH}" height="{height}" role="img">']
    bottom = height - PAD_BOTTOM
    for t in nice_ticks(x_low, x_high, 10):
        x = px(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{bottom}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">'
            f"{fmt_number(t)}</text>"
        )
    out.append(
        f'<text x="{WIDTH / 2}" y="{height - 4}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    for i, row in enumerate(rows):
        y = PAD_TOP + i * row_h
        out.append(
            f'<text x="{PAD_LEFT - 8}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(row.name)}</text>"
        )
        for bar in row.bars:
            out.append(
                f'<rect class="life" x="{px(bar.start):.1f}" y="{y + 4}" '
                f'width="{max(px(bar.end) - px(bar.start), 1):.1f}" height="{row_h - 8}" '
                f'fill="{bar.colour}"><title>{escape(bar.label)}</title></rect>'
            )
        for m in row.marks:
            x = px(m.x)
            out.append(
                f'<path class="mark" d="M{x - 5:.1f} {y + 5} l10 10 M{x - 5:.1f} {y + 15} '
                f'l10 -10" stroke="{m.colour}" stroke-width="2.5">'
                f"<title>{escape(m.label)}</title></path>"
            )
    out.append("</svg>")
    return "".join(out)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _axes(
    x_low: float,
    x_high: float,
    y_low: float,
    y_high: float,
    px: Callable[[float], float],
    py: Callable[[float], float],
    x_label: str,
    y_label: str,
    height: int,
) -> list[str]:
    out: list[str] = []
    bottom = height - PAD_BOTTOM
    for t in nice_ticks(x_low, x_high, 10):
        x = px(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{bottom}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">'
            f"{fmt_number(t)}</text>"
        )
    for t in nice_ticks(y_low, y_high, 6):
        y = py(t)
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{PAD_LEFT - 6}" y="{y + 3:.1f}" font-size="10" '
            f'text-anchor="end">{fmt_number(t)}</text>'
        )
    out.append(
        f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT}" y1="{PAD_TOP}" y2="{bottom}" stroke="#888"/>'
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{bottom}" y2="{bottom}" '
        f'stroke="#888"/>'
        f'<text x="{WIDTH / 2}" y="{height - 4}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{PAD_TOP + (bottom - PAD_TOP) / 2:.1f}" font-size="11" '
        f'text-anchor="middle" transform="rotate(-90 12 {PAD_TOP + (bottom - PAD_TOP) / 2:.1f})">'
        f"{escape(y_label)}</text>"
    )
    return out


def _key(items: Sequence[tuple[str, str]]) -> str:
    out: list[str] = []
    x = PAD_LEFT + 10
    for name, colour in items:
        out.append(
            f'<line x1="{x}" x2="{x + 22}" y1="12" y2="12" stroke="{colour}" stroke-width="3"/>'
            f'<text x="{x + 27}" y="16" font-size="11">{escape(name)}</text>'
        )
        x += 40 + 7 * len(name)
    return "".join(out)
