"""Shared helpers of the usage tests."""

from datetime import date
from decimal import Decimal

from customers.models import Account
from customers.tests.factories import AccountFactory
from usage.models import DailyUsage, MetricKind, UsageMetric


def metric(key: str = "logins", kind: str = MetricKind.COUNT) -> UsageMetric:
    return UsageMetric.objects.create(key=key, label=key.title(), kind=kind)


def account(**fields) -> Account:
    return AccountFactory(**fields)


def daily(account: Account, metric: UsageMetric, day: date, value) -> DailyUsage:
    return DailyUsage.objects.create(
        account=account, metric=metric, day=day, value=Decimal(str(value))
    )


def stored(metric: UsageMetric) -> dict[tuple[int, date], Decimal]:
    return {
        (row.account_id, row.day): row.value for row in DailyUsage.objects.filter(metric=metric)
    }
