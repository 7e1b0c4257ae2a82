"""Server-rendered SVG for health: an account's score over time (the account page), as a
step line over the red / yellow / green bands of its scorecard. Plain Python in, an SVG
string out, as ``usage_charts``: every text escaped, a ``<title>`` and an ``aria-label``,
each change of score a point with its own ``<title>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

from health.models import DEFAULT_GREEN_FROM, DEFAULT_RED_BELOW, SCORE_MAX
from segments.charts import AXIS, FONT, GRID, color

LINE_COLOR = color(0)
# Soft fills for the status bands (the line stays readable over them).
BAND_FILLS = {"red": "#fdecea", "yellow": "#fff4dc", "green": "#e5f4ea"}


def _text(x: float, y: float, content: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" style="fill:{AXIS}">'
        f"{escape(content)}</text>"
    )


def health_trend_chart(
    history: Sequence[dict[str, Any]],
    *,
    start: date,
    end: date,
    red_below: int = DEFAULT_RED_BELOW,
    green_from: int = DEFAULT_GREEN_FROM,
    width: int = 640,
    height: int = 180,
) -> SafeString:
    """``history``: ``health.selectors.account_health_history`` rows (``day`` ISO, score;
    each holds until the next row). A gap where the score is null; "No history" without
    rows."""
    title = f"Health score from {start.isoformat()} to {end.isoformat()}"
    left, right, top, bottom = 36, width - 10, 8, height - 24
    span = max((end - start).days, 1)

    def x_of(day: date) -> float:
        return left + (min(max((day - start).days, 0), span) / span) * (right - left)

    def y_of(score: float) -> float:
        return bottom - score / SCORE_MAX * (bottom - top)

    body = [
        f'<rect x="{left}" y="{y_of(high):.1f}" width="{right - left}" '
        f'height="{y_of(low) - y_of(high):.1f}" fill="{BAND_FILLS[name]}"/>'
        for name, low, high in (
            ("red", 0, red_below),
            ("yellow", red_below, green_from),
            ("green", green_from, SCORE_MAX),
        )
        if high > low
    ]
    for score in (0, red_below, green_from, SCORE_MAX):
        y = y_of(score)
        body.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 5, y + 4, str(score), anchor="end"))
    steps = [(date.fromisoformat(row["day"]), row["score"], row["status"]) for row in history]
    segments: list[list[str]] = []
    for index, (day, score, status) in enumerate(steps):
        until = steps[index + 1][0] if index + 1 < len(steps) else end
        if score is None:
            segments.append([])
            continue
        x0, x1, y = x_of(day), x_of(until), y_of(score)
        if not segments or not segments[-1]:
            segments.append([f"M{x0:.1f},{y:.1f}"])
        else:
            segments[-1].append(f"V{y:.1f}")
        segments[-1].append(f"H{x1:.1f}")
        body.append(
            f'<circle class="health-change" data-day="{day.isoformat()}" data-score="{score}" '
            f'cx="{x0:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOR}"><title>'
            f"{escape(f'{day.isoformat()}: {score} ({status})')}</title></circle>"
        )
    for path in segments:
        if path:
            body.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{LINE_COLOR}" stroke-width="2"/>'
            )
    if not steps:
        body.append(_text((left + right) / 2, (top + bottom) / 2, "No history", anchor="middle"))
    body.append(_text(left, height - 6, start.isoformat()))
    body.append(_text(right, height - 6, end.isoformat(), anchor="end"))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    markup = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)} '
        f'class="chart health-chart" style="max-width:100%;height:auto" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )
    return mark_safe(markup)  # noqa: S308 (every text above is escaped)
