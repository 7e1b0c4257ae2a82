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
# 13 px is the smallest text on any chart: the pages show charts at their own size (never
# scaled down to fit: a figure scrolls sideways instead), so this is the size on screen.
FONT_SIZE = 13
FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}"'
# Average advance of a 13 px system-ui character, to make room for labels.
CHAR_WIDTH = 7.8
AXIS = "#4b5563"
GRID = "#e5e7eb"
# Beyond the palette's eight colours, series repeat a colour with another dash pattern (the
# legend draws the same sample), so no two series look alike.
DASHES = ("", "7 4", "2 3", "9 3 2 3")


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


def dash(index: int) -> str:
    """The dash pattern of series ``index`` ("" = solid): a new pattern per round of the
    palette."""
    return DASHES[(index // len(PALETTE)) % len(DASHES)]


def _dash_attr(index: int) -> str:
    pattern = dash(index)
    return f' stroke-dasharray="{pattern}"' if pattern else ""


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
    extra = "".join(f" {k.rstrip('_').replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    if fill:
        # A style, not a fill attribute: a page's CSS for "svg text" would beat an attribute.
        extra += f' style="fill:{fill}"'
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _svg(title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)} '
        f'class="svg-chart" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _link(href: str | None, markup: str) -> str:
    """``markup`` as a link to ``href`` (the accounts behind a figure), or as it is."""
    if not href:
        return markup
    return f"<a href={quoteattr(href)}>{markup}</a>"


def _text_width(text: str) -> float:
    return CHAR_WIDTH * len(text)


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


def _legend(
    names: Sequence[str], x: float, y: float, width: float, *, lines: bool = False
) -> tuple[list[str], float]:
    """Legend entries flowing left to right, each with its series' colour (and, for line
    charts, a line sample with its dash pattern); returns the elements and the height used."""
    parts: list[str] = []
    cx, cy = x, y
    for i, name in enumerate(names):
        label = name if len(name) <= 28 else name[:27] + "…"
        item_width = 26 + _text_width(label)
        if cx + item_width > x + width and cx > x:
            cx, cy = x, cy + 20
        if lines:
            parts.append(
                f'<line x1="{cx:.1f}" x2="{cx + 20:.1f}" y1="{cy - 4:.1f}" y2="{cy - 4:.1f}" '
                f'stroke="{color(i)}" stroke-width="3"{_dash_attr(i)} class="legend-key" '
                f'data-series="{i}"/>'
            )
        else:
            parts.append(
                f'<rect x="{cx:.1f}" y="{cy - 11:.1f}" width="14" height="14" '
                f'fill="{color(i)}" class="legend-key" data-series="{i}"/>'
            )
        parts.append(_text(cx + 24, cy + 1, label))
        cx += item_width + 12
    return parts, (cy - y) + 20


def line_chart(
    series: Sequence[LineSeries],
    *,
    title: str,
    value_format: Formatter = format_number,
    y_label: str = "",
    x_label: str = "Date",
    width: int = 720,
    height: int = 300,
    max_markers: int = 40,
) -> str:
    """One line per series over a shared date axis, y from 0, with axis titles. Every
    point of a series with at most ``max_markers`` points gets a dot in the series'
    colour (a series of one point is only a dot)."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(title, width, height)
    legend, legend_height = _legend([s.name for s in series], 70, 18, width - 90, lines=True)
    left, right = 70, width - 24
    top, bottom = 18 + legend_height + 8, height - 48
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
    tick_count = min(5, last - first + 1)
    ticks = sorted({first + round(span * k / max(tick_count - 1, 1)) for k in range(tick_count)})
    for ordinal in ticks:
        day = date.fromordinal(min(ordinal, last))
        anchor = "start" if ordinal == first else "end" if ordinal >= last else "middle"
        body.append(_text(x_of(day), bottom + 18, day.isoformat(), text_anchor=anchor, fill=AXIS))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="{AXIS}"/>')
    body.append(
        _text(
            (left + right) / 2,
            height - 8,
            x_label,
            text_anchor="middle",
            fill=AXIS,
            class_="axis-title",
        )
    )
    if y_label:
        cy = (top + bottom) / 2
        body.append(
            _text(
                16,
                cy,
                y_label,
                text_anchor="middle",
                fill=AXIS,
                transform=f"rotate(-90 16 {cy:.1f})",
                class_="axis-title",
            )
        )
    for i, s in enumerate(series):
        if not s.points:
            continue
        ordered = sorted(s.points)
        coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in ordered)
        last_day, last_value = ordered[-1]
        body.append(
            f'<polyline fill="none" stroke="{color(i)}" stroke-width="2"{_dash_attr(i)} '
            f'data-series="{i}" points="{coords}">'
            f"<title>{escape(s.name)}: {escape(value_format(last_value))} on "
            f"{last_day.isoformat()}</title></polyline>"
        )
        marked = ordered if len(ordered) <= max_markers else [ordered[-1]]
        for day, value in marked:
            body.append(
                f'<circle cx="{x_of(day):.1f}" cy="{y_of(value):.1f}" r="3.5" fill="{color(i)}" '
                f'data-series="{i}"><title>{escape(s.name)}: {escape(value_format(value))} on '
                f"{day.isoformat()}</title></circle>"
            )
    return _svg(title, width, height, body)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    value_format: Formatter = format_number,
    axis_label: str = "",
    links: Sequence[str | None] = (),
    width: int = 580,
) -> str:
    """Horizontal bars, one group per label and one bar per series (None: no bar, "n/a"),
    a legend for every series, and a value axis with its title. ``links[i]`` makes label i
    and its bars a link (to the accounts behind them)."""
    values = [float(v) for s in series for v in s.values if v is not None]
    if not labels or not series:
        return _empty(title, width, 120)
    left = min(max(90, max(_text_width(_short(label, 26)) for label in labels) + 16), 220)
    right = width - 70
    legend, legend_height = _legend([s.name for s in series], left, 18, right - left)
    bar, gap = 16, 10
    band = bar * len(series) + gap
    top = 18 + legend_height + 4
    plot_bottom = top + band * len(labels)
    height = int(plot_bottom + 52)
    x_max = _nice_max(max(values, default=0.0))
    body = list(legend)
    for k in range(5):
        value = x_max * k / 4
        x = left + value / x_max * (right - left)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 2}" y2="{plot_bottom:.1f}" stroke="{GRID}"/>'
        )
        body.append(
            _text(x, plot_bottom + 16, value_format(value), text_anchor="middle", fill=AXIS)
        )
    if axis_label:
        body.append(
            _text(
                (left + right) / 2,
                height - 8,
                axis_label,
                text_anchor="middle",
                fill=AXIS,
                class_="axis-title",
            )
        )
    for i, label in enumerate(labels):
        href = links[i] if i < len(links) else None
        y0 = top + i * band
        name = _short(label, 26)
        shown_label = _text(left - 8, y0 + band / 2 + 2, name, text_anchor="end")
        if name != label:
            shown_label = f"<g><title>{escape(label)}</title>{shown_label}</g>"
        body.append(_link(href, shown_label))
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            y = y0 + j * bar
            if value is None:
                body.append(_text(left + 4, y + bar - 3, "n/a", fill=AXIS))
                continue
            w = max(float(value), 0.0) / x_max * (right - left)
            shown = value_format(value)
            body.append(
                _link(
                    href,
                    f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}" '
                    f'fill="{color(j)}" data-series="{j}"><title>{escape(label)} · '
                    f"{escape(s.name)}: {escape(shown)}</title></rect>",
                )
            )
            body.append(_text(left + w + 4, y + bar - 3, shown))
    body.append(
        f'<line x1="{left}" x2="{left}" y1="{top - 2}" y2="{plot_bottom:.1f}" stroke="{AXIS}"/>'
    )
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
    links: Sequence[Sequence[str | None]] = (),
    x_label: str = "",
) -> str:
    """A table of coloured cells (darker is higher); None cells are left blank. Column
    labels longer than a cell is wide (segment names) are written slanted above their
    column. ``links[i][j]`` makes cell (i, j) a link (to the accounts behind it)."""
    if not row_labels or not column_labels:
        return _empty(title, 480, 120)
    known = [float(v) for row in values for v in row if v is not None]
    top_value = float(max_value) if max_value is not None else max(known, default=1.0) or 1.0
    longest = max(_text_width(_short(label)) for label in row_labels)
    left, cell_height = min(max(60, longest + 16), 250), 26
    slanted = any(_text_width(label) > cell_width - 4 for label in column_labels)
    column_room = max(_text_width(_short(label, 24)) for label in column_labels)
    # A label slanted at 45 degrees rises by its length / sqrt(2).
    top = (int(column_room * 0.72) + 16 if slanted else 26) + (22 if x_label else 0)
    width = left + cell_width * len(column_labels) + (int(column_room * 0.72) if slanted else 10)
    height = top + cell_height * len(row_labels) + 10
    body: list[str] = []
    if x_label:
        body.append(_text(left, 16, x_label, fill=AXIS, class_="axis-title"))
    for j, label in enumerate(column_labels):
        x = left + j * cell_width + cell_width / 2
        if slanted:
            shown = _short(label, 24)
            body.append(
                f"<g><title>{escape(label)}</title>"
                + _text(
                    x,
                    top - 8,
                    shown,
                    fill=AXIS,
                    transform=f"rotate(-45 {x:.1f} {top - 8})",
                    class_="column-label",
                )
                + "</g>"
            )
        else:
            body.append(
                _text(x, top - 8, label, text_anchor="middle", fill=AXIS, class_="column-label")
            )
    for i, label in enumerate(row_labels):
        y = top + i * cell_height
        body.append(_text(left - 8, y + cell_height / 2 + 5, _short(label), text_anchor="end"))
        for j in range(len(column_labels)):
            value = values[i][j] if j < len(values[i]) else None
            x = left + j * cell_width
            if value is None:
                continue
            fraction = float(value) / top_value
            shown = value_format(value)
            ink = "#ffffff" if fraction > 0.55 else "#111827"
            cell = (
                f'<rect x="{x}" y="{y}" width="{cell_width - 2}" height="{cell_height - 2}" '
                f'fill="{_shade(fraction)}"><title>{escape(label)} · '
                f"{escape(column_labels[j])}: {escape(shown)}</title></rect>"
                + _text(
                    x + (cell_width - 2) / 2,
                    y + cell_height / 2 + 4,
                    shown,
                    text_anchor="middle",
                    fill=ink,
                )
            )
            href = links[i][j] if i < len(links) and j < len(links[i]) else None
            body.append(_link(href, cell))
    return _svg(title, width, height, body)
