"""Health over time for a segment (segment analytics, docs/health.md): on each month end of
the last year and today, the red / yellow / green (and unscored) count and ARR of the
segment's members, and their average score.

Which members: today's (how the accounts in the segment now got here, as the usage
section reads it) or, with ``members_then``, those of each day (the segment's membership
events, ``segments.selectors.segment_members_at``). Every figure is "as of" its day: the
health on that day (the last history row on or before it) and the ARR on that day (the
contracts that count on it, docs/metrics.md). One grouped query per day (13 in all), each
set-based: no account is loaded into Python.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from customers.models import MONEY, Account, Contract, ContractStatus
from segments import selectors as segment_selectors
from segments.models import Segment

from .models import HealthHistory, HealthStatus

BANDS = (*HealthStatus.values, "unscored")
MONTHS = 12


@dataclass(frozen=True)
class Band:
    count: int = 0
    arr: Decimal = Decimal(0)


@dataclass(frozen=True)
class HealthPoint:
    day: date
    bands: dict[str, Band] = field(default_factory=dict)
    average_score: Decimal | None = None

    @property
    def members(self) -> int:
        return sum(band.count for band in self.bands.values())


def sample_days(as_of: date, months: int = MONTHS) -> list[date]:
    """The last day of each of the ``months`` months before ``as_of``'s, then ``as_of``."""
    days = []
    month_end = as_of.replace(day=1) - timedelta(days=1)
    for _ in range(months):
        days.append(month_end)
        month_end = month_end.replace(day=1) - timedelta(days=1)
    return [*reversed(days), as_of]


def _arr_on(day: date) -> Coalesce:
    """An account row's ARR on ``day``: Σ arr of its contracts that count on that day."""
    counting = (
        Contract.objects.filter(account=OuterRef("pk"), start_date__lte=day)
        .exclude(status=ContractStatus.CANCELLED)
        .filter(Q(end_date__gte=day) | Q(status=ContractStatus.ACTIVE))
        .order_by()
        .values("account")
        .annotate(total=Sum("arr"))
        .values("total")
    )
    money = DecimalField(**MONEY)
    return Coalesce(Subquery(counting, output_field=money), Value(Decimal(0)), output_field=money)


def _health_on(day: date, column: str) -> Subquery:
    rows = HealthHistory.objects.filter(account_id=OuterRef("pk"), day__lte=day).order_by(
        "-day", "-id"
    )
    output = IntegerField() if column == "score" else None
    return Subquery(rows.values(column)[:1], output_field=output)


def health_point(members: QuerySet[Account], day: date) -> HealthPoint:
    """The split and average score of ``members`` on ``day`` (one grouped query)."""
    rows = (
        members.order_by()
        .annotate(
            status_then=_health_on(day, "status"),
            score_then=_health_on(day, "score"),
            arr_then=_arr_on(day),
        )
        .values("status_then")
        .annotate(
            n=Count("id"),
            arr=Sum("arr_then"),
            scored=Count("score_then"),
            score_sum=Sum("score_then"),
        )
    )
    bands = {band: Band() for band in BANDS}
    scored, score_sum = 0, 0
    for row in rows:
        band = row["status_then"] or "unscored"
        bands[band] = Band(count=row["n"], arr=Decimal(row["arr"] or 0))
        scored += row["scored"]
        score_sum += row["score_sum"] or 0
    average = (Decimal(score_sum) / scored).quantize(Decimal("0.1")) if scored else None
    return HealthPoint(day=day, bands=bands, average_score=average)


def segment_health_over_time(
    *, segment: Segment, as_of: date, members_then: bool = False
) -> list[HealthPoint]:
    """The health of the segment's members on each month end of the last year and on
    ``as_of``: today's members, or (``members_then``) each day's."""
    points = []
    today_members = segment_selectors.segment_members_at(segment=segment, day=as_of)
    for day in sample_days(as_of):
        members = (
            segment_selectors.segment_members_at(segment=segment, day=day)
            if members_then
            else today_members
        )
        points.append(health_point(members, day))
    return points
