"""``{% load segment_badges %}{% segment_badges segments %}``: an account's segments as
linked badges, for list rows (in Python: an ``{% include %}`` per row cost most of a list's
render time, bench/web.py)."""

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from cs_platform.links import link

register = template.Library()

NONE = mark_safe('<span class="muted">—</span>')


@register.simple_tag
def segment_badges(segments: Iterable[Any]) -> SafeString:
    """``segments``: segments (``id``, ``name``); "—" when there are none."""
    segments = list(segments)
    if not segments:
        return NONE
    return format_html_join(
        "",
        '<a class="badge info" href="{}">{}</a>',
        ((link("segment-detail", segment.id), segment.name) for segment in segments),
    )
