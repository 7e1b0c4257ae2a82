"""Segment analytics of health: the split (count and ARR on the day) and the average score
on each sampled day, from a hand-built history, for today's members and each day's."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers import services as customer_services
from customers.models import Contract
from customers.tests.factories import AccountFactory
from health.analytics import health_point, sample_days, segment_health_over_time
from health.charts import status_split_chart
from health.models import HealthHistory
from segments.models import Membership, MembershipEvent, MembershipEventKind
from segments.tests.engine_fixtures import published

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(settings):
    settings.CS_TODAY = TODAY


def _history(account, day: date, score: int | None, status: str | None) -> None:
    HealthHistory.objects.create(
        account=account, day=day, at=timezone.now(), score=score, status=status, measures={}
    )


def _contract(account, start: date, end: date, arr: int, status: str = "active") -> None:
    Contract.objects.create(
        account=account, start_date=start, end_date=end, arr=Decimal(arr), status=status
    )


def test_sample_days_are_the_last_twelve_month_ends_then_today():
    days = sample_days(TODAY)

    assert days[0] == date(2025, 11, 30) and days[-2] == date(2026, 10, 31)
    assert days[-1] == TODAY and len(days) == 13


def test_the_split_on_a_day_reads_that_days_health_and_arr():
    # given a: red (20) from Sept, green (80) from Nov 10; b: yellow 50 from Oct 1;
    # c: never scored; contracts: a 1000 all year, b 2000 only from Oct 15, c 4000
    a, b, c = AccountFactory(), AccountFactory(), AccountFactory()
    _history(a, date(2026, 9, 1), 20, "red")
    _history(a, date(2026, 11, 10), 80, "green")
    _history(b, date(2026, 10, 1), 50, "yellow")
    _contract(a, date(2026, 1, 1), date(2026, 12, 31), 1000)
    _contract(b, date(2026, 10, 15), date(2027, 10, 14), 2000)
    _contract(c, date(2026, 1, 1), date(2026, 12, 31), 4000)
    members = type(a).objects.filter(pk__in=[a.pk, b.pk, c.pk])

    # when read at the end of September, October and today
    september = health_point(members, date(2026, 9, 30))
    october = health_point(members, date(2026, 10, 31))
    today = health_point(members, TODAY)

    # then (b had no ARR before Oct 15; c is never scored)
    assert {k: (v.count, v.arr) for k, v in september.bands.items()} == {
        "red": (1, Decimal(1000)),
        "yellow": (0, Decimal(0)),
        "green": (0, Decimal(0)),
        "unscored": (2, Decimal(4000)),
    }
    assert september.average_score == Decimal("20.0")
    assert (october.bands["red"].count, october.bands["yellow"].arr) == (1, Decimal(2000))
    assert october.average_score == Decimal("35.0")  # (20 + 50) / 2
    assert (today.bands["green"].count, today.bands["green"].arr) == (1, Decimal(1000))
    assert today.average_score == Decimal("65.0")  # (80 + 50) / 2
    assert today.members == 3


def test_over_time_for_todays_members_or_each_days_members(manager):
    # given a segment whose member a joined on Nov 5 (b was a member until Oct 10)
    segment = published("Watched", {"all": []})
    a, b = AccountFactory(), AccountFactory()
    _history(a, date(2026, 6, 1), 30, "red")
    _history(b, date(2026, 6, 1), 90, "green")
    at = timezone.make_aware(timezone.datetime(2026, 6, 2, 12))
    MembershipEvent.objects.create(
        segment=segment,
        account=b,
        kind=MembershipEventKind.ENTERED,
        at=at,
        version=segment.current_version,
    )
    MembershipEvent.objects.create(
        segment=segment,
        account=b,
        kind=MembershipEventKind.EXITED,
        at=at + timedelta(days=130),
        version=segment.current_version,
    )
    MembershipEvent.objects.create(
        segment=segment,
        account=a,
        kind=MembershipEventKind.ENTERED,
        at=timezone.make_aware(timezone.datetime(2026, 11, 5, 9)),
        version=segment.current_version,
    )
    Membership.objects.create(
        segment=segment, account=a, entered_at=timezone.now(), version=segment.current_version
    )

    today_members = segment_health_over_time(segment=segment, as_of=TODAY)
    then_members = segment_health_over_time(segment=segment, as_of=TODAY, members_then=True)

    # today's members: a alone, red since June, unscored before
    by_day = {p.day: p for p in today_members}
    assert by_day[date(2026, 5, 31)].bands["unscored"].count == 1
    assert by_day[date(2026, 6, 30)].bands["red"].count == 1
    assert all(p.members == 1 for p in today_members)
    # each day's members: b (green) in the summer, a (red) from November
    by_day = {p.day: p for p in then_members}
    assert by_day[date(2026, 5, 31)].members == 0
    assert by_day[date(2026, 7, 31)].bands["green"].count == 1
    assert by_day[date(2026, 10, 31)].members == 0
    assert by_day[TODAY].bands["red"].count == 1


def test_the_split_chart_draws_one_column_part_per_status_and_escapes_text():
    account = AccountFactory()
    customer_services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=500
    )
    _history(account, date(2026, 10, 1), 30, "red")
    points = [health_point(type(account).objects.all(), day) for day in sample_days(TODAY)]

    svg = status_split_chart(points, title="<Seg> & co", measure="arr")

    assert "&lt;Seg&gt; &amp; co" in svg and "<Seg>" not in svg
    parts = svg.count('class="health-split"')
    # one per day with ARR (the contract starts in January): unscored, then red from October
    assert parts == 11
    assert svg.count('data-band="red"') == 2
