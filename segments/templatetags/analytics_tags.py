"""Analytics on any page: ``{% load analytics_tags %}{% segment_metrics segment %}`` renders
a segment's metrics (as of ``?as_of=`` when the page has a valid one, else today) with its
growth chart; filters ``rate`` and ``money`` format the figures."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import template

from cs_platform import clock
from segments import analytics, charts
from segments.analytics_views import figure_url
from segments.models import Segment

register = template.Library()


def _as_of_from(context: template.Context) -> date:
    today = clock.today()
    request = context.get("request")
    raw = request.GET.get("as_of", "") if request is not None else ""
    try:
        chosen = date.fromisoformat(raw)
    except ValueError:
        return today
    return min(chosen, today)


@register.inclusion_tag("analytics/_segment_metrics.html", takes_context=True)
def segment_metrics(
    context: template.Context, segment: Segment, as_of: date | None = None, days: int = 365
) -> dict[str, Any]:
    """The segment's metrics and growth chart as of ``as_of`` (default: the page's
    ``?as_of=``, else today), with a date picker."""
    as_of = as_of or _as_of_from(context)
    metrics = analytics.segment_metrics(segment_id=segment.pk, as_of=as_of)
    growth = analytics.segment_growth(segment_ids=[segment.pk], as_of=as_of, days=days)[segment.pk]
    chart = charts.line_chart(
        [charts.LineSeries("Members", [(p.day, p.member_count) for p in growth])],
        title=f"{segment.name}: members, {(as_of - timedelta(days=days)).isoformat()} to "
        f"{as_of.isoformat()}",
        y_label="Members",
        height=240,
    )
    return {
        "segment": segment,
        "metrics": metrics,
        "since_created": metrics.population == analytics.PopulationKind.SINCE_CREATED,
        "links": {
            figure: figure_url(figure, as_of, segment=segment.pk)
            for figure in ("members", "window", "churned", "renewals")
        },
        "growth": growth,
        "growth_chart": charts.safe_svg(chart),
        "segment_metrics_form": True,
        "today": clock.today(),
    }


@register.filter
def rate(value: Decimal | None) -> str:
    """0.9312 → "93.1%"; None → "—"."""
    return charts.format_value(value, "rate")


@register.filter
def money(value: Decimal | None) -> str:
    """1234.5 → "$1,235"; None → "—"."""
    return charts.format_value(value, "money")


@register.simple_tag
def ratio(numerator: Decimal, denominator: Decimal) -> str:
    """``numerator / denominator`` as a rate ("95.7%"); "—" over zero."""
    if not denominator:
        return "—"
    return charts.format_value(numerator / denominator, "rate")


@register.filter
def zip_lists(first: list, second: list) -> list[tuple]:
    return list(zip(first, second, strict=False))
