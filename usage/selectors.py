"""Reads of usage data for the API and the screens."""

from datetime import date

from django.db.models import Expression, QuerySet

from .models import DailyUsage, UsageMetric
from .rule_fields import window_expression


def metrics_list() -> QuerySet[UsageMetric]:
    return UsageMetric.objects.all()


def account_usage_series(
    *,
    account_id: int,
    metric_key: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet:
    """An account's daily rows (days with a row only) as dicts of metric key, day, value,
    by metric then day: one range scan of the daily table's key."""
    rows = DailyUsage.objects.filter(account_id=account_id)
    if metric_key:
        rows = rows.filter(metric__key=metric_key)
    if since:
        rows = rows.filter(day__gte=since)
    if until:
        rows = rows.filter(day__lte=until)
    return rows.order_by("metric__key", "day").values("metric__key", "day", "value")


def window_value(*, metric_id: int, kind: str, days: int, today: date) -> Expression:
    """The value of the rule field ``usage.KEY.<kind>_<days>d`` for each row of an Account
    queryset (to annotate or order by): the account's window values when they are as of
    ``today``, else an aggregate of its daily rows (``usage.rule_fields``)."""
    return window_expression(metric_id, kind, days, today)
