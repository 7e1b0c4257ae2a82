"""``{% load account_cells %}{% account_cells account segments columns %}``: the chosen
columns' cells of one accounts-list row (``workspace.columns``).

Built in Python: the template version (an ``{% if %}`` chain over every column of every
row, and an include per badge) was most of the accounts list's server time
(bench/web.py); this is a dictionary look-up and one ``format_html`` per cell."""

from collections.abc import Callable
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from customers.templatetags.cs_format import NOTHING, day, money
from customers.templatetags.picklists import picklist_label
from health.templatetags.health_badges import health_badge
from segments.templatetags.segment_badges import segment_badges

from ..columns import Column

register = template.Library()

Cell = Callable[[template.Context, Any, list[Any]], SafeString]


def _picklist(field: str, attribute: str) -> Cell:
    def cell(context: template.Context, account: Any, segments: list[Any]) -> SafeString:
        return format_html(
            "<td>{}</td>", picklist_label(context, field, getattr(account, attribute))
        )

    return cell


def _csm(context: template.Context, account: Any, segments: list[Any]) -> SafeString:
    owner = account.owner
    if owner is None:
        return mark_safe('<td><span class="muted">Unassigned</span></td>')
    return format_html("<td>{}</td>", owner.get_full_name() or owner.username)


CELLS: dict[str, Cell] = {
    "segments": lambda c, a, s: format_html("<td>{}</td>", segment_badges(s)),
    "arr": lambda c, a, s: format_html('<td class="num">{}</td>', money(a.arr)),
    "health": lambda c, a, s: format_html(
        '<td class="num">{}</td>', health_badge(a.health_score, a.health_status)
    ),
    "renewal": lambda c, a, s: format_html('<td class="nowrap">{}</td>', day(a.renewal_date)),
    "plan": _picklist("plan", "plan"),
    "region": _picklist("region", "region"),
    "lifecycle": _picklist("lifecycle_stage", "lifecycle_stage"),
    "csm": _csm,
    "industry": _picklist("industry", "industry"),
    "country": lambda c, a, s: format_html("<td>{}</td>", a.country or NOTHING),
    "employees": lambda c, a, s: format_html(
        '<td class="num">{}</td>', intcomma(a.employees) if a.employees is not None else NOTHING
    ),
    "last_seen": lambda c, a, s: format_html('<td class="nowrap">{}</td>', day(a.last_seen_at)),
    "tickets": lambda c, a, s: format_html('<td class="num">{}</td>', a.open_tickets),
}


@register.simple_tag(takes_context=True)
def account_cells(
    context: template.Context, account: Any, segments: list[Any], columns: list[Column]
) -> SafeString:
    """The row's cells, one per column of ``columns`` in order."""
    return mark_safe("".join(CELLS[column.key](context, account, segments) for column in columns))
