"""Product usage on the workspace pages (docs/usage.md): each metric's last 90 days on the
account page, and one chosen metric's 30-day trend on my book and the accounts list.

Reads only, each one bounded, set-based query over the daily usage table. The windows are
the rule fields' (DESIGN section 11): the 30 days are today−29 … today, the previous 30
days today−59 … today−30, and a day without a row counts as 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, QuerySet
from django.utils.safestring import SafeString

from cs_platform.reference import remembered
from customers.models import Account
from usage.models import DailyUsage, UsageMetric
from usage.selectors import window_value

from . import usage_charts

ACCOUNT_CHART_DAYS = 90
TREND_DAYS = 30
ZERO = Decimal(0)


@dataclass(frozen=True)
class MetricChart:
    metric: UsageMetric
    days: list[date]
    values: list[Decimal]
    chart: SafeString

    @property
    def total(self) -> Decimal:
        return sum(self.values, ZERO)

    @property
    def days_active(self) -> int:
        return sum(1 for value in self.values if value > 0)


@dataclass(frozen=True)
class UsageTrend:
    """One account's ``TREND_DAYS``-day sum of a metric, the previous period's, the change
    in percent (None when the previous period's sum is 0, as the rule field
    ``change_30d``) and the daily values of the period, oldest first."""

    sum: Decimal
    previous: Decimal
    daily: list[Decimal]
    sparkline: SafeString

    @property
    def change_percent(self) -> Decimal | None:
        if not self.previous:
            return None
        return ((self.sum - self.previous) / self.previous * 100).quantize(Decimal("0.1"))


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


# Read by every page (the metric pickers, the account page's charts): cached, forgotten
# whenever a metric is written (workspace.apps).
USAGE_METRICS_KEY = "workspace:usage-metrics"


def usage_metrics() -> list[UsageMetric]:
    """Every metric, by label (the pickers and the account page's charts)."""
    return remembered(USAGE_METRICS_KEY, lambda: list(UsageMetric.objects.order_by("label", "key")))


def usage_metric_get(key: str) -> UsageMetric | None:
    return UsageMetric.objects.filter(key=key).first() if key else None


def account_usage_charts(
    *, account_id: int, today: date, metrics: list[UsageMetric] | None = None
) -> list[MetricChart]:
    """Each metric's last ``ACCOUNT_CHART_DAYS`` days for one account (one query)."""
    metrics = usage_metrics() if metrics is None else metrics
    days = _days(today, ACCOUNT_CHART_DAYS)
    values: dict[int, dict[date, Decimal]] = defaultdict(dict)
    rows = DailyUsage.objects.filter(
        account_id=account_id, day__range=(days[0], today)
    ).values_list("metric_id", "day", "value")
    for metric_id, day, value in rows:
        values[metric_id][day] = value
    charts = []
    for metric in metrics:
        series = [values[metric.pk].get(day, ZERO) for day in days]
        title = f"{metric.label} per day, {days[0].isoformat()} to {today.isoformat()}" + (
            f" ({metric.unit})" if metric.unit else ""
        )
        charts.append(
            MetricChart(
                metric=metric,
                days=days,
                values=series,
                chart=usage_charts.daily_chart(days, series, title=title, unit=metric.unit),
            )
        )
    return charts


def usage_trends(
    *, account_ids: Iterable[int], metric: UsageMetric, today: date
) -> dict[int, UsageTrend]:
    """The metric's trend for each of ``account_ids`` (one query over their last
    2 × ``TREND_DAYS`` days); an account without rows gets zeros."""
    ids = list(account_ids)
    days = _days(today, 2 * TREND_DAYS)
    daily: dict[int, dict[date, Decimal]] = defaultdict(dict)
    rows = DailyUsage.objects.filter(
        account_id__in=ids, metric=metric, day__range=(days[0], today)
    ).values_list("account_id", "day", "value")
    for account_id, day, value in rows:
        daily[account_id][day] = value
    trends = {}
    for account_id in ids:
        series = [daily[account_id].get(day, ZERO) for day in days]
        current = series[TREND_DAYS:]
        trends[account_id] = UsageTrend(
            sum=sum(current, ZERO),
            previous=sum(series[:TREND_DAYS], ZERO),
            daily=current,
            sparkline=usage_charts.sparkline(
                current, title=f"{metric.label}, last {TREND_DAYS} days"
            ),
        )
    return trends


def accounts_by_usage(
    accounts: QuerySet[Account], *, metric: UsageMetric, today: date, descending: bool
) -> QuerySet[Account]:
    """``accounts`` ordered by the metric's ``TREND_DAYS``-day sum (no rows: 0), ties by id:
    the rule field ``usage.KEY.sum_30d``, read from the accounts' window values (one
    lookup each) when they are current."""
    ordered = accounts.annotate(
        usage_sum=window_value(metric_id=metric.pk, kind="sum", days=TREND_DAYS, today=today)
    )
    if descending:
        return ordered.order_by(F("usage_sum").desc(), F("id").desc())
    return ordered.order_by(F("usage_sum").asc(), F("id").asc())
