"""Server-rendered SVG for product usage: a metric's daily chart (the account page) and a
sparkline (my book and the accounts list). Plain Python in, an SVG string out: no
JavaScript, nothing fetched at run time.

Every piece of text is escaped here, so a caller may mark the result safe. Each chart has a
``<title>`` and an ``aria-label``; each day's bar carries its value in its own ``<title>``
(a hover shows it, a screen reader reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

from segments.charts import AXIS, FONT, GRID, color

BAR_COLOR = color(0)
SPARK_COLOR = color(0)


def format_usage(value: Decimal | float | int, unit: str = "") -> str:
    """12 → "12", 1234.5 → "1,234.5", with the unit after it when there is one."""
    number = Decimal(value)
    text = f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.1f}"
    return f"{text} {unit}".rstrip()


def _axis_end(value: Decimal) -> Decimal:
    """A readable top for the y axis: the smallest 1/2/5 x 10^n at or above ``value``."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(1)
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _text(x: float, y: float, content: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" style="fill:{AXIS}">'
        f"{escape(content)}</text>"
    )


def daily_chart(
    days: Sequence[date],
    values: Sequence[Decimal],
    *,
    title: str,
    unit: str = "",
    width: int = 560,
    height: int = 150,
) -> SafeString:
    """One bar per day (a day without data is drawn as 0), y from 0 with its top labelled in
    ``unit``, the first, middle and last day labelled under the axis."""
    left, right, top, bottom = 56, width - 8, 10, height - 24
    y_max = _axis_end(max(values, default=Decimal(0)))
    slot = (right - left) / max(len(days), 1)
    bar = max(slot - 1, 1)
    body = []
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = bottom - float(fraction) * (bottom - top)
        body.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, format_usage(y_max * fraction, unit), anchor="end"))
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        h = float(value / y_max) * (bottom - top)
        x = left + i * slot
        body.append(
            f'<rect class="usage-day" data-day="{day.isoformat()}" data-value="{value}" '
            f'x="{x:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOR}"><title>{day.isoformat()}: '
            f"{escape(format_usage(value, unit))}</title></rect>"
        )
    if days:
        picks = sorted({0, len(days) // 2, len(days) - 1})
        for i in picks:
            anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
            x = left + i * slot + (0 if anchor == "start" else slot if anchor == "end" else 0)
            body.append(_text(x, height - 6, days[i].isoformat(), anchor=anchor))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    return _svg(title, width, height, body, css_class="chart usage-chart")


def sparkline(
    values: Sequence[Decimal], *, title: str, width: int = 96, height: int = 24
) -> SafeString:
    """A small line of daily values, oldest first (y from 0; a flat line at the bottom when
    every value is 0)."""
    top_value = max(values, default=Decimal(0))
    span = len(values) - 1 or 1
    points = " ".join(
        f"{1 + i / span * (width - 2):.1f},"
        f"{height - 2 - (float(v / top_value) * (height - 4) if top_value else 0):.1f}"
        for i, v in enumerate(values)
    )
    body = [f'<polyline fill="none" stroke="{SPARK_COLOR}" stroke-width="1.5" points="{points}"/>']
    return _svg(title, width, height, body, css_class="sparkline")


def _svg(title: str, width: int, height: int, body: list[str], *, css_class: str) -> SafeString:
    markup = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)} '
        f'class="{css_class}" style="max-width:100%;height:auto" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )
    return mark_safe(markup)  # noqa: S308 (every text above is escaped)
