"""Growth and cohort retention (segments.analytics.cohorts) against hand-computed fixtures
(docs/metrics.md)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cs_platform.db import dialect
from customers.tests.factories import AccountFactory
from segments import analytics
from segments.models import SegmentSnapshot
from segments.tests.analytics_fixtures import ACTIVE, CHURNED, at, contract, member, segment

pytestmark = pytest.mark.django_db


def test_growth_keeps_the_last_snapshot_of_each_day(today):
    # Given two snapshots on one day and one on the next, and one after as_of
    seg = segment("Grow", date(2024, 1, 1))
    for day, hour, count in (
        (date(2026, 11, 1), 9, 5),
        (date(2026, 11, 1), 15, 7),
        (date(2026, 11, 2), 9, 8),
        (date(2026, 11, 3), 9, 9),
    ):
        SegmentSnapshot.objects.create(
            segment=seg, computed_at=at(day, hour), member_count=count, arr=Decimal(count * 100)
        )

    # When the growth is read as of 2026-11-02
    points = analytics.segment_growth(segment_ids=[seg.pk], as_of=date(2026, 11, 2))[seg.pk]

    # Then one point a day, the day's last
    assert [(p.day, p.member_count, p.arr) for p in points] == [
        (date(2026, 11, 1), 7, Decimal("700.00")),
        (date(2026, 11, 2), 8, Decimal("800.00")),
    ]


def _cohort_fixture():
    """as_of 2026-03-15, three monthly cohorts (Jan, Feb, Mar 2026).

    Jan: C1 (01-10, 100 until 02-15 churned), C2 (01-20, 200 + 50 from 03-01),
         C3 (01-31, 100 from 02-01).
      k0 end Jan: C1 100, C2 200, C3 0    -> retained 2/3, ARR 300 (base)
      k1 end Feb: C1 0,   C2 200, C3 100  -> retained 2/3, ARR 300 -> 1.0
      k2 at 03-15: C1 0,  C2 250, C3 100  -> retained 2/3, ARR 350 -> 1.1667
    Feb: C4 (02-10, starter, 100): k0 1/1 100; k1 1/1 100 -> 1.0
    Mar: nobody. C5 (2025-12) and C6 (2026-04) fall outside.
    """
    c1 = AccountFactory(customer_since=date(2026, 1, 10))
    contract(c1, date(2026, 1, 10), date(2026, 2, 15), 100, CHURNED)
    c2 = AccountFactory(customer_since=date(2026, 1, 20))
    contract(c2, date(2026, 1, 20), date(2027, 1, 19), 200, ACTIVE)
    contract(c2, date(2026, 3, 1), date(2027, 1, 19), 50, ACTIVE)
    c3 = AccountFactory(customer_since=date(2026, 1, 31))
    contract(c3, date(2026, 2, 1), date(2027, 1, 31), 100)
    c4 = AccountFactory(customer_since=date(2026, 2, 10), plan="starter")
    contract(c4, date(2026, 2, 10), date(2027, 2, 9), 100)
    c5 = AccountFactory(customer_since=date(2025, 12, 1))
    contract(c5, date(2025, 12, 1), date(2026, 11, 30), 100)
    c6 = AccountFactory(customer_since=date(2026, 4, 1))
    contract(c6, date(2026, 4, 1), date(2027, 3, 31), 100)
    return c1, c2, c3, c4


def _table(result):
    return [
        (
            c.month,
            c.accounts,
            c.start_arr,
            [(x.months_since, x.logo_retention, x.revenue_retention) for x in c.cells],
        )
        for c in result.cohorts
    ]


def test_cohort_retention_on_a_known_fixture(today):
    # Given the cohort fixture
    _cohort_fixture()

    # When the last three cohorts are read as of 2026-03-15
    table = analytics.cohort_retention(as_of=date(2026, 3, 15), months=3)

    # Then
    third, one = Decimal("0.6667"), Decimal("1.0000")
    assert _table(table) == [
        (
            date(2026, 1, 1),
            3,
            Decimal("300.00"),
            [(0, third, one), (1, third, one), (2, third, Decimal("1.1667"))],
        ),
        (date(2026, 2, 1), 1, Decimal("100.00"), [(0, one, one), (1, one, one)]),
        (date(2026, 3, 1), 0, Decimal("0"), []),
    ]
    assert table.cohorts[0].cells[2].measured_on == date(2026, 3, 15)
    assert table.cohorts[0].cells[1].measured_on == date(2026, 2, 28)


def test_cohort_retention_filters_by_plan_and_segment(today):
    # Given the cohort fixture, and a segment holding only C2 since January
    _c1, c2, _c3, _c4 = _cohort_fixture()
    seg = segment("Only C2", date(2024, 1, 1))
    member(seg, c2, date(2026, 1, 25))

    # When filtered by plan, then by segment
    by_plan = analytics.cohort_retention(as_of=date(2026, 3, 15), months=3, plan="starter")
    by_segment = analytics.cohort_retention(as_of=date(2026, 3, 15), months=3, segment_id=seg.pk)

    # Then
    assert [(c.month, c.accounts) for c in by_plan.cohorts] == [
        (date(2026, 1, 1), 0),
        (date(2026, 2, 1), 1),
        (date(2026, 3, 1), 0),
    ]
    jan = by_segment.cohorts[0]
    assert (jan.accounts, jan.start_arr) == (1, Decimal("200.00"))
    assert [c.revenue_retention for c in jan.cells] == [
        Decimal("1.0000"),
        Decimal("1.0000"),
        Decimal("1.2500"),
    ]


def test_the_cohort_statement_runs_tuned_for_a_large_join(today):
    # Given the cohort fixture
    _cohort_fixture()

    # When the cohorts are read
    with CaptureQueriesContext(connection) as queries:
        analytics.cohort_retention(as_of=date(2026, 3, 15), months=3)

    # Then, where the database has planner settings (PostgreSQL), the statement ran with JIT
    # and nested loops off (bench/analytics.py); elsewhere nothing was set
    settings = [q["sql"] for q in queries if q["sql"].startswith(("SET", "SELECT set_config("))]
    if dialect().settings_need_transaction:
        assert "SET LOCAL jit = off" in settings
        assert any("'enable_nestloop', 'off', true" in sql for sql in settings)
    else:
        assert settings == []
