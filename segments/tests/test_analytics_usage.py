"""A segment's usage: the average per member of a metric's 30-day sum and its weekly trend,
checked against a hand computation, on the segment's page as well."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from customers import services as customer_services
from segments import services as segment_services
from segments.analytics.usage import segment_usage
from segments.models import SegmentKind
from usage.models import DailyUsage, UsageMetric

pytestmark = pytest.mark.django_db


def account(n: int):
    return customer_services.account_create(name=f"Acme {n}", external_id=f"acme-{n}")


@pytest.fixture
def metric(db):
    return UsageMetric.objects.create(key="logins", label="Logins", unit="logins")


@pytest.fixture
def members_and_outsider(manager, metric, today):
    """A static segment of three accounts (one with no usage) and an outsider with usage."""
    first, second, idle, outsider = (account(n) for n in range(4))
    segment = segment_services.segment_create(
        name="Hand-picked", kind=SegmentKind.STATIC, publish=True, created_by=manager
    )
    segment_services.static_segment_members_add(
        segment=segment, account_ids=[first.id, second.id, idle.id]
    )

    def put(who, age: int, value: int) -> None:
        DailyUsage.objects.create(
            account=who, metric=metric, day=today - timedelta(days=age), value=value
        )

    put(first, 0, 30)  # this week, in the 30 days
    put(first, 29, 12)  # the 30 days' first day (still the 13th week: days 0-6 ago are week 13)
    put(second, 30, 60)  # just before the 30 days
    put(second, 90, 14)  # the trend's first day (13 weeks = 91 days: today-90 … today)
    put(second, 91, 1000)  # before the trend
    put(outsider, 0, 5000)  # not a member
    other = UsageMetric.objects.create(key="api_calls", label="API calls")
    DailyUsage.objects.create(account=first, metric=other, day=today, value=777)
    return segment


def test_segment_usage_average_and_trend_match_a_hand_computation(
    members_and_outsider, metric, today
):
    result = segment_usage(segment_id=members_and_outsider.id, metric=metric, as_of=today)

    assert result.members == 3
    # 30-day sum over members: 30 + 12 = 42; per member 42 / 3 = 14
    assert result.sum_30d == Decimal(42)
    assert result.avg_sum_30d == Decimal("14.00")
    # 13 weeks, the last one ending today; per member and day = week total / (3 × 7)
    assert len(result.weeks) == 13
    assert result.weeks[-1].last_day == today
    assert result.weeks[0].first_day == today - timedelta(days=90)
    by_end = {w.last_day: w.per_account_per_day for w in result.weeks}
    assert by_end[today] == Decimal("1.43")  # 30 / 21
    # today-29 is in the week ending today-28; today-30 as well (days 28..34 ago)
    assert by_end[today - timedelta(days=28)] == Decimal("3.43")  # (12 + 60) / 21
    assert by_end[today - timedelta(days=84)] == Decimal("0.67")  # 14 / 21
    assert sum(by_end.values()) == Decimal("1.43") + Decimal("3.43") + Decimal("0.67")


def test_empty_segment_has_no_average(manager, metric, today):
    segment = segment_services.segment_create(
        name="Nobody", kind=SegmentKind.STATIC, publish=True, created_by=manager
    )
    result = segment_usage(segment_id=segment.id, metric=metric, as_of=today)
    assert result.members == 0 and result.avg_sum_30d is None
    assert {w.per_account_per_day for w in result.weeks} == {Decimal(0)}


def test_segment_page_shows_the_usage_average_and_trend(
    client, manager, members_and_outsider, today
):
    client.force_login(manager)
    url = reverse("segment-detail", args=[members_and_outsider.id])

    html = client.get(url, {"usage_metric": "logins"}).content.decode()

    section = html.split('id="segment-usage"', 1)[1]
    assert '<span class="value" id="usage-avg-30d">14 logins</span>' in section
    assert '<span class="value" id="usage-members">3</span>' in section
    assert f'data-week-end="{today.isoformat()}">1.43<' in section
    assert 'aria-label="Hand-picked: Logins (logins) per member and day, by week"' in section
    # another metric picked: API calls, 777 on one member today → 259 per member
    other = client.get(url, {"usage_metric": "api_calls"}).content.decode()
    assert 'id="usage-avg-30d">259</span>' in other
