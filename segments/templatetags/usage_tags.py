"""A segment's product usage on its page: ``{% load usage_tags %}{% segment_usage segment %}``
renders the average per member of a metric (the page's ``?usage_metric=``, else the first
metric by label) and its weekly trend (``segments.analytics.usage``)."""

from typing import Any

from django import template

from cs_platform import clock
from segments import charts
from segments.analytics.usage import segment_usage as segment_usage_read
from segments.models import Segment
from usage.models import UsageMetric

register = template.Library()


@register.inclusion_tag("analytics/_segment_usage.html", takes_context=True)
def segment_usage(context: template.Context, segment: Segment) -> dict[str, Any]:
    metrics = list(UsageMetric.objects.order_by("label", "key"))
    if not metrics:
        return {"metrics": []}
    request = context.get("request")
    key = request.GET.get("usage_metric", "") if request is not None else ""
    metric = next((m for m in metrics if m.key == key), metrics[0])
    result = segment_usage_read(segment_id=segment.pk, metric=metric, as_of=clock.today())
    unit = f" ({metric.unit})" if metric.unit else ""
    chart = charts.line_chart(
        [
            charts.LineSeries(
                f"{metric.label} per member and day, weekly average",
                [(week.last_day, week.per_account_per_day) for week in result.weeks],
            )
        ],
        title=f"{segment.name}: {metric.label}{unit} per member and day, by week",
        value_format=lambda value: f"{float(value):,.1f}",
        height=220,
    )
    return {
        "segment": segment,
        "metrics": metrics,
        "usage": result,
        "chart": charts.safe_svg(chart),
    }
