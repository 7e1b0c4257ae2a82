"""Demo usage: the metrics, the series shapes (steady, growing, declining, dormant,
seasonal), quiet weekends, determinism, the bulk write on both backends and the demo
workspace's usage segments."""

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db.models import F, Min, Sum

from customers.models import Account
from demo.accounts import seed_demo
from demo.usage import METRICS, USAGE_DAYS, AccountUsage, Shape, UsageGenerator
from demo.workspace import USAGE_SEGMENTS, seed_demo_workspace
from segments.models import Membership, Segment
from usage.models import DailyUsage, MetricKind, UsageFeatures, UsageFeatureState, UsageMetric

TODAY = dt.date(2026, 11, 22)  # the ``today`` fixture's date


def generator(seed: int = 1) -> UsageGenerator:
    metrics = [SimpleNamespace(key=key, pk=n) for n, (key, *_rest) in enumerate(METRICS)]
    return UsageGenerator(seed=seed, today=TODAY, metrics=metrics)


def logins_by_day(shape: Shape, **extra) -> dict[dt.date, int]:
    profile = AccountUsage(
        shape=shape,
        users=200,
        stops_days_ago=extra.get("stops_days_ago", 45),
        phase=extra.get("phase", 0.0),
        uses_api=True,
        first_day=extra.get("first_day", dt.date(2020, 1, 1)),
    )
    return {
        day: value for _, metric, day, value in generator().account_rows(7, profile) if not metric
    }


def window(series: dict[dt.date, int], first_ago: int, last_ago: int) -> int:
    """The sum over today−first_ago … today−last_ago."""
    return sum(
        series.get(TODAY - dt.timedelta(days=ago), 0) for ago in range(last_ago, first_ago + 1)
    )


def test_the_shapes_have_their_shape():
    steady = logins_by_day(Shape.STEADY)
    growing = logins_by_day(Shape.GROWING)
    declining = logins_by_day(Shape.DECLINING)
    dormant = logins_by_day(Shape.DORMANT, stops_days_ago=45)
    seasonal = logins_by_day(Shape.SEASONAL)

    # steady: this month within 15% of last month
    assert 0.85 < window(steady, 29, 0) / window(steady, 59, 30) < 1.15
    # growing: the last 30 days well above the first 30 of the 120
    assert window(growing, 29, 0) > 2 * window(growing, 119, 90)
    # declining: down at least 40% month over month (the demo segment's rule)
    assert window(declining, 29, 0) <= 0.6 * window(declining, 59, 30)
    # dormant: nothing from the day it stopped, usage before it
    assert window(dormant, 45, 0) == 0 and window(dormant, 75, 46) > 0
    # seasonal: a four-week cycle: its best week at least twice its worst
    weeks = [window(seasonal, 7 * k + 6, 7 * k) for k in range(16)]
    assert max(weeks) > 2 * min(weeks)
    # weekends are quieter than weekdays, and every series covers 120 days at most
    weekday = [v for d, v in steady.items() if d.weekday() < 5]
    weekend = [v for d, v in steady.items() if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < 0.5 * sum(weekday) / len(weekday)
    assert min(steady) == TODAY - dt.timedelta(days=USAGE_DAYS - 1) and max(steady) == TODAY


def test_no_usage_before_the_account_became_a_customer():
    since = TODAY - dt.timedelta(days=20)
    series = logins_by_day(Shape.STEADY, first_day=since)
    assert series and min(series) >= since


def test_the_same_seed_gives_the_same_rows():
    account = [5, *([None] * 8), "pro", "adopting", dt.date(2024, 1, 1), *([None] * 5), 30]
    first = list(generator(seed=4).rows([account]))
    assert first == list(generator(seed=4).rows([account]))
    assert first != list(generator(seed=5).rows([account]))


@pytest.mark.django_db
def test_seed_writes_the_metrics_and_every_shape(today):
    result = seed_demo(accounts=200, seed=6, usage=True)

    assert result.usage_metrics == len(METRICS) == UsageMetric.objects.count()
    gauge = UsageMetric.objects.get(key="active_users")
    assert gauge.kind == MetricKind.GAUGE and gauge.unit == "users"
    assert DailyUsage.objects.count() == result.usage_rows > 200 * 60
    span = DailyUsage.objects.aggregate(first=Min("day"))
    assert span["first"] >= today - dt.timedelta(days=USAGE_DAYS - 1)
    assert not DailyUsage.objects.filter(day__gt=today).exists()
    # every account's usage starts no earlier than the day it became a customer
    assert not DailyUsage.objects.filter(day__lt=F("account__customer_since")).exists()
    # the shapes, measured on the written logins: dormant, down 40%+, growing, steady
    logins = UsageMetric.objects.get(key="logins")
    sums: dict[int, dict[str, int]] = defaultdict(lambda: {"now": 0, "before": 0, "first": 0})
    for period, (first_ago, last_ago) in {
        "now": (29, 0),
        "before": (59, 30),
        "first": (119, 90),
    }.items():
        rows = (
            DailyUsage.objects.filter(
                metric=logins,
                day__range=(today - dt.timedelta(days=first_ago), today - dt.timedelta(last_ago)),
            )
            .values("account_id")
            .annotate(total=Sum("value"))
        )
        for row in rows:
            sums[row["account_id"]][period] = int(row["total"])
    dormant = [a for a, s in sums.items() if s["now"] == 0 and s["before"] > 0]
    down = [a for a, s in sums.items() if s["before"] and s["now"] <= 0.6 * s["before"]]
    growing = [a for a, s in sums.items() if s["first"] and s["now"] > 2 * s["first"]]
    steady = [a for a, s in sums.items() if s["before"] and 0.85 < s["now"] / s["before"] < 1.15]
    assert dormant and down and growing and steady
    churned = Account.objects.filter(lifecycle_stage="churned").values_list("id", flat=True)
    assert churned and all(sums[a]["now"] == 0 for a in churned)
    # the window values the rule fields read are built from the copied rows, as of today
    assert set(UsageFeatureState.objects.values_list("as_of", flat=True)) == {today}
    # (they hold the window's days before today; the rules add today's row)
    kept = dict(UsageFeatures.objects.filter(metric=logins).values_list("account_id", "sum_30d"))
    todays = dict(
        DailyUsage.objects.filter(metric=logins, day=today).values_list("account_id", "value")
    )
    assert {a: s["now"] for a, s in sums.items()} == {
        a: kept.get(a, 0) + todays.get(a, 0) for a in sums
    }


@pytest.mark.django_db
def test_demo_workspace_gains_usage_segments_with_members(today):
    seed_demo(accounts=300, seed=3, usage=True)

    result = seed_demo_workspace()

    for name, _rule, _extra in USAGE_SEGMENTS:
        segment = Segment.objects.get(name=name)
        assert Membership.objects.filter(segment=segment).count() == result.segments[name] > 0
    assert result.segments["Power users"] == 50
    # power users are the top 50 by 30-day logins among those active 20+ days
    power = set(
        Membership.objects.filter(segment__name="Power users").values_list("account_id", flat=True)
    )
    dormant = set(
        Membership.objects.filter(segment__name="Dormant 30 days").values_list(
            "account_id", flat=True
        )
    )
    assert not power & dormant


@pytest.mark.django_db
def test_workspace_without_usage_has_no_usage_segments(today):
    seed_demo(accounts=50, seed=3)
    seed_demo_workspace()
    assert not Segment.objects.filter(name__in=[n for n, _r, _e in USAGE_SEGMENTS]).exists()


@pytest.mark.django_db
def test_seed_demo_command_seeds_usage_unless_told_not_to(today, capsys):
    call_command("seed_demo", "--accounts", "20", "--seed", "2")
    out = capsys.readouterr().out
    rows = DailyUsage.objects.count()
    assert rows > 0 and f"{rows:,} daily usage rows of 4 metrics" in out
    call_command("seed_demo", "--accounts", "20", "--seed", "3", "--no-usage")
    assert DailyUsage.objects.count() == rows
