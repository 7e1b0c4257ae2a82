"""Server-rendered SVG charts: plain Python in, an SVG string out (no JavaScript, no build).

Every piece of text is escaped here, so a caller may mark the result safe. Each chart has a
``<title>`` and an ``aria-label``; the pages also show every chart's numbers as a table.
Colours are the Okabe-Ito palette, which stays distinguishable for colour-blind readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal
Formatter = Callable[[Number], str]

PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#B8A100",
    "#000000",
)
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
AXIS = "#6b7280"
GRID = "#e5e7eb"


@dataclass(frozen=True)
class LineSeries:
    name: str
    points: Sequence[tuple[date, Number]]


@dataclass(frozen=True)
class BarSeries:
    name: str
    values: Sequence[Number | None]


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def format_number(value: Number) -> str:
    return f"{float(value):,.0f}"


def format_money(value: Number) -> str:
    """Short money: $950, $12.5k, $3.2M."""
    amount = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= limit:
            return f"${amount / limit:,.1f}{suffix}"
    return f"${amount:,.0f}"


def format_percent(value: Number) -> str:
    return f"{float(value) * 100:.1f}%"


def format_value(value: Any, kind: str) -> str:
    """A figure as the analytics tables show it, by ``kind`` (rate, money, int, else a plain
    number); None is a dash."""
    if value is None:
        return "—"
    if kind == "rate":
        return format_percent(value)
    if kind == "money":
        return f"${value:,.0f}"
    if kind == "int":
        return f"{value:,}"
    return f"{value:,.2f}"


def safe_svg(markup: str) -> SafeString:
    """A chart of this module, marked safe for a template: it escapes every piece of text
    it draws."""
    return mark_safe(markup)


def _text(x: float, y: float, content: str, *, fill: str | None = None, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    if fill:
        # A style, not a fill attribute: a page's CSS for "svg text" would beat an attribute.
        extra += f' style="fill:{fill}"'
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _svg(title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)} '
        f'class="chart" style="max-width:100%;height:auto" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _empty(title: str, width: int, height: int) -> str:
    return _svg(
        title,
        width,
        height,
        [_text(width / 2, height / 2, "No data", text_anchor="middle", fill=AXIS)],
    )


def _nice_max(value: float) -> float:
    """The smallest 1/2/2.5/5 x 10^n at or above ``value`` (a readable axis end)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _legend(names: Sequence[str], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend entries flowing left to right; returns the elements and the height used."""
    parts: list[str] = []
    cx, cy = x, y
    for i, name in enumerate(names):
        label = name if len(name) <= 28 else name[:27] + "…"
        item_width = 22 + 7 * len(label)
        if cx + item_width > x + width and cx > x:
            cx, cy = x, cy + 18
        parts.append(
            f'<rect x="{cx:.1f}" y="{cy - 9:.1f}" width="12" height="12" fill="{color(i)}"/>'
        )
        parts.append(_text(cx + 16, cy + 1, label))
        cx += item_width + 10
    return parts, (cy - y) + 18


def line_chart(
    series: Sequence[LineSeries],
    *,
    title: str,
    value_format: Formatter = format_number,
    width: int = 720,
    height: int = 300,
) -> str:
    """One line per series over a shared date axis, y from 0."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(title, width, height)
    legend, legend_height = _legend([s.name for s in series], 60, 16, width - 80)
    left, right, top, bottom = 60, width - 20, 16 + legend_height + 6, height - 30
    first = min(d for d, _ in points).toordinal()
    last = max(d for d, _ in points).toordinal()
    span = max(last - first, 1)
    y_max = _nice_max(max(float(v) for _, v in points))

    def x_of(day: date) -> float:
        return left + (day.toordinal() - first) / span * (right - left)

    def y_of(value: Number) -> float:
        return bottom - float(value) / y_max * (bottom - top)

    body = list(legend)
    for i in range(5):
        value = y_max * i / 4
        y = y_of(value)
        body.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, value_format(value), text_anchor="end", fill=AXIS))
    ticks = sorted({first, first + span // 2, last}) if last > first else [first]
    for ordinal in ticks:
        day = date.fromordinal(ordinal)
        anchor = "start" if ordinal == first else "end" if ordinal == last else "middle"
        body.append(_text(x_of(day), height - 10, day.isoformat(), text_anchor=anchor, fill=AXIS))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    for i, s in enumerate(series):
        if not s.points:
            continue
        coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in sorted(s.points))
        last_day, last_value = max(s.points)
        body.append(
            f'<polyline fill="none" stroke="{color(i)}" stroke-width="2" points="{coords}">'
            f"<title>{escape(s.name)}: {escape(value_format(last_value))} on "
            f"{last_day.isoformat()}</title></polyline>"
        )
        if len(s.points) == 1:
            x, y = x_of(last_day), y_of(last_value)
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color(i)}"/>')
    return _svg(title, width, height, body)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    value_format: Formatter = format_number,
    width: int = 720,
) -> str:
    """Horizontal bars, one group per label and one bar per series (None: no bar, "n/a")."""
    values = [float(v) for s in series for v in s.values if v is not None]
    if not labels or not series:
        return _empty(title, width, 120)
    legend, legend_height = ([], 0.0)
    if len(series) > 1:
        legend, legend_height = _legend([s.name for s in series], 180, 16, width - 200)
    bar, gap = 14, 10
    band = bar * len(series) + gap
    left, right = 180, width - 70
    top = 10 + legend_height
    height = int(top + band * len(labels) + 10)
    x_max = _nice_max(max(values, default=0.0))
    body = list(legend)
    for i, label in enumerate(labels):
        y0 = top + i * band
        name = label if len(label) <= 26 else label[:25] + "…"
        body.append(
            _text(left - 8, y0 + band / 2 + 2, name, text_anchor="end")
            if name == label
            else f"<g><title>{escape(label)}</title>"
            + _text(left - 8, y0 + band / 2 + 2, name, text_anchor="end")
            + "</g>"
        )
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            y = y0 + j * bar
            if value is None:
                body.append(_text(left + 4, y + bar - 3, "n/a", fill=AXIS))
                continue
            w = max(float(value), 0.0) / x_max * (right - left)
            shown = value_format(value)
            body.append(
                f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}" '
                f'fill="{color(j)}"><title>{escape(label)} · {escape(s.name)}: '
                f"{escape(shown)}</title></rect>"
            )
            body.append(_text(left + w + 4, y + bar - 3, shown))
    body.append(f'<line x1="{left}" x2="{left}" y1="{top - 2}" y2="{height - 8}" stroke="{AXIS}"/>')
    return _svg(title, width, height, body)


def _short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _shade(fraction: float) -> str:
    """White to the palette's blue."""
    fraction = min(max(fraction, 0.0), 1.0)
    start, end = (255, 255, 255), (0, 114, 178)
    r, g, b = (round(s + (e - s) * fraction) for s, e in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[Number | None]],
    *,
    title: str,
    value_format: Formatter = format_number,
    max_value: Number | None = None,
    cell_width: int = 56,
) -> str:
    """A table of coloured cells (darker is higher); None cells are left blank."""
    if not row_labels or not column_labels:
        return _empty(title, 480, 120)
    known = [float(v) for row in values for v in row if v is not None]
    top_value = float(max_value) if max_value is not None else max(known, default=1.0) or 1.0
    longest = max(len(_short(label)) for label in row_labels)
    left, top, cell_height = min(max(60, 7 * longest + 16), 240), 24, 24
    width = left + cell_width * len(column_labels) + 10
    height = top + cell_height * len(row_labels) + 10
    body: list[str] = []
    for j, label in enumerate(column_labels):
        x = left + j * cell_width + cell_width / 2
        body.append(_text(x, top - 8, label, text_anchor="middle", fill=AXIS))
    for i, label in enumerate(row_labels):
        y = top + i * cell_height
        body.append(_text(left - 8, y + cell_height / 2 + 4, _short(label), text_anchor="end"))
        for j in range(len(column_labels)):
            value = values[i][j] if j < len(values[i]) else None
            x = left + j * cell_width
            if value is None:
                continue
            fraction = float(value) / top_value
            shown = value_format(value)
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell_width - 2}" height="{cell_height - 2}" '
                f'fill="{_shade(fraction)}"><title>{escape(label)} · '
                f"{escape(column_labels[j])}: {escape(shown)}</title></rect>"
            )
            ink = "#ffffff" if fraction > 0.55 else "#111827"
            body.append(
                _text(
                    x + (cell_width - 2) / 2,
                    y + cell_height / 2 + 3,
                    shown,
                    text_anchor="middle",
                    fill=ink,
                    font_size="11",
                )
            )
    return _svg(title, width, height, body)
