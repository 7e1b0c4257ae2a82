"""Health on a segment's page: ``{% load health_tags %}{% segment_health segment %}`` renders
the red / yellow / green split of its members by count and ARR over the last year, and
their average score (``health.analytics``), with the figures as a table."""

from typing import Any

from django import template

from cs_platform import clock
from segments import charts
from segments.models import Segment

from ..analytics import BANDS, segment_health_over_time
from ..charts import status_split_chart
from ..models import Scorecard

register = template.Library()


MEMBERS_PARAM = "health_members"
MEMBERS_THEN = "then"


@register.inclusion_tag("analytics/_segment_health.html", takes_context=True)
def segment_health(context: template.Context, segment: Segment) -> dict[str, Any]:
    """Today's members by default; the page's ``?health_members=then``: each day's members.
    Nothing when no scorecard exists (health is not in use)."""
    if not Scorecard.objects.exists():
        return {"points": []}
    request = context.get("request")
    members_then = request is not None and request.GET.get(MEMBERS_PARAM) == MEMBERS_THEN
    as_of = clock.today()
    points = segment_health_over_time(segment=segment, as_of=as_of, members_then=members_then)
    span = f"{points[0].day.isoformat()} to {as_of.isoformat()}"
    average = charts.line_chart(
        [
            charts.LineSeries(
                "Average score",
                [(p.day, p.average_score) for p in points if p.average_score is not None],
            )
        ],
        title=f"{segment.name}: average health score, {span}",
        height=200,
    )
    return {
        "segment": segment,
        "members_then": members_then,
        "points": points,
        "bands": BANDS,
        "rows": [(p, [p.bands[band] for band in BANDS]) for p in points],
        "count_chart": charts.safe_svg(
            status_split_chart(points, title=f"{segment.name}: accounts by health, {span}")
        ),
        "arr_chart": charts.safe_svg(
            status_split_chart(
                points, title=f"{segment.name}: ARR by health, {span}", measure="arr"
            )
        ),
        "average_chart": charts.safe_svg(average),
    }
