"""A segment's product usage (docs/usage.md): the average per current member of a metric's
30-day sum (the rule field ``usage.KEY.sum_30d``, averaged), and its trend as weekly
averages per member and day over the last ``TREND_WEEKS`` weeks.

One statement: the day totals of the metric over the segment's current members, at most
``TREND_WEEKS`` × 7 rows whatever the segment's size; members without rows count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from usage.models import DailyUsage, UsageMetric

from ..models import Membership

TREND_WEEKS = 13  # 91 days: the account page's 90 days, in whole weeks
WINDOW_DAYS = 30
ZERO = Decimal(0)
PLACES = Decimal("0.01")


@dataclass(frozen=True)
class WeekAverage:
    first_day: date
    last_day: date
    per_account_per_day: Decimal


@dataclass(frozen=True)
class SegmentUsage:
    metric: UsageMetric
    as_of: date
    members: int
    sum_30d: Decimal  # over every member
    avg_sum_30d: Decimal | None  # per member; None for an empty segment
    weeks: list[WeekAverage]


def segment_usage(*, segment_id: int, metric: UsageMetric, as_of: date) -> SegmentUsage:
    """``metric`` over the current members of segment ``segment_id``, up to ``as_of``."""
    first = as_of - timedelta(days=TREND_WEEKS * 7 - 1)
    members = Membership.objects.filter(segment_id=segment_id)
    member_count = members.count()
    totals = dict(
        DailyUsage.objects.filter(
            metric=metric,
            account_id__in=members.values("account_id"),
            day__range=(first, as_of),
        )
        .order_by()
        .values("day")
        .annotate(total=Sum("value"))
        .values_list("day", "total")
    )
    window_first = as_of - timedelta(days=WINDOW_DAYS - 1)
    sum_30d = sum((total for day, total in totals.items() if day >= window_first), ZERO)
    weeks = []
    for week in range(TREND_WEEKS):
        start = first + timedelta(days=7 * week)
        week_total = sum((totals.get(start + timedelta(days=d), ZERO) for d in range(7)), ZERO)
        average = (week_total / (member_count * 7)).quantize(PLACES) if member_count else ZERO
        weeks.append(WeekAverage(start, start + timedelta(days=6), average))
    return SegmentUsage(
        metric=metric,
        as_of=as_of,
        members=member_count,
        sum_30d=sum_30d,
        avg_sum_30d=(sum_30d / member_count).quantize(PLACES) if member_count else None,
        weeks=weeks,
    )
