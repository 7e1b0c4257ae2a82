"""Server-rendered SVG for health analytics: a segment's red / yellow / green split over
time as stacked columns (one per day sampled), each status in its colour with its
figures in a ``<title>``. Plain Python in, an SVG string out (as ``segments.charts``, whose
axis colours and font it uses); every text escaped, so the result may be marked safe."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from segments.charts import AXIS, FONT, GRID, format_money, format_number

from .analytics import BANDS, HealthPoint

# Okabe-Ito vermillion / orange / bluish green, and a grey for unscored accounts.
STATUS_COLORS = {"red": "#D55E00", "yellow": "#E69F00", "green": "#009E73", "unscored": "#9ca3af"}


def _text(x: float, y: float, content: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" style="fill:{AXIS}">'
        f"{escape(content)}</text>"
    )


def status_split_chart(
    points: Sequence[HealthPoint],
    *,
    title: str,
    measure: str = "count",
    width: int = 720,
    height: int = 240,
) -> str:
    """Stacked columns of ``measure`` ("count" or "arr") per status, one per point."""
    fmt: Callable = format_number if measure == "count" else format_money
    left, right, top, bottom = 64, width - 12, 28, height - 28
    totals = [sum((getattr(b, measure) for b in p.bands.values()), Decimal(0)) for p in points]
    y_max = max([float(t) for t in totals] + [1.0])
    slot = (right - left) / max(len(points), 1)
    body = []
    legend_x = left
    for band in BANDS:
        body.append(
            f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{STATUS_COLORS[band]}"/>'
        )
        body.append(_text(legend_x + 14, 15, band.capitalize()))
        legend_x += 80
    for fraction in (0, 0.5, 1):
        y = bottom - fraction * (bottom - top)
        body.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, fmt(y_max * fraction), anchor="end"))
    for index, point in enumerate(points):
        x = left + index * slot + slot * 0.15
        y = float(bottom)
        for band in BANDS:
            value = getattr(point.bands[band], measure)
            h = float(value) / y_max * (bottom - top)
            if h <= 0:
                continue
            y -= h
            label = f"{point.day.isoformat()}: {band} {fmt(value)}"
            body.append(
                f'<rect class="health-split" data-day="{point.day.isoformat()}" '
                f'data-band="{band}" data-value="{value}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{STATUS_COLORS[band]}">'
                f"<title>{escape(label)}</title></rect>"
            )
        if index in (0, len(points) - 1) or index == len(points) // 2:
            body.append(_text(x + slot * 0.35, height - 10, point.day.isoformat(), anchor="middle"))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)} '
        f'class="chart health-split-chart" style="max-width:100%;height:auto" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )
