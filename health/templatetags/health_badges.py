"""``{% load health_badges %}{% health_badge score status %}``: the health score badge of
a list row. In Python rather than an included template: lists show it on every row, and
an ``{% include %}`` per row was most of a page's render time (bench/web.py)."""

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

NOT_SCORED = mark_safe('<span class="muted" title="Not scored">—</span>')
# The scorecard's status names the colour; without one the default thresholds do.
TONE_CLASS = {"green": "good", "yellow": "fair", "red": "poor"}
DEFAULT_FAIR_FROM, DEFAULT_GOOD_FROM = 40, 70


@register.simple_tag
def health_badge(value: Any, status: Any = None) -> SafeString:
    """``value``: the score (0–100) or None; ``status`` (red, yellow, green: the
    scorecard's thresholds) colours it when given, else the default thresholds do."""
    if value is None:
        return NOT_SCORED
    tone = status or ""
    if tone:
        return format_html(
            '<span class="health {}" data-health-status="{}" title="Health score {} of 100, {}">'
            '{}<span class="sr-only"> ({})</span></span>',
            TONE_CLASS.get(tone, _by_threshold(value)),
            tone,
            value,
            tone,
            value,
            tone,
        )
    return format_html(
        '<span class="health {}" title="Health score {} of 100">{}</span>',
        _by_threshold(value),
        value,
        value,
    )


def _by_threshold(value: Any) -> str:
    if value >= DEFAULT_GOOD_FROM:
        return "good"
    return "fair" if value >= DEFAULT_FAIR_FROM else "poor"
