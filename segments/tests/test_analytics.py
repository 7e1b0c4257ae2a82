"""The metric selectors against hand-computed fixtures (docs/metrics.md)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import AccountFactory
from segments import analytics
from segments.analytics import PopulationKind
from segments.tests.analytics_fixtures import (
    ACTIVE,
    CHURNED,
    RENEWED,
    contract,
    enterprise_fixture,
    member,
    segment,
)

pytestmark = pytest.mark.django_db

D = date(2026, 11, 22)


def test_metrics_today_follow_the_definitions(today):
    # Given the Enterprise fixture (table in analytics_fixtures.enterprise_fixture)
    ent = enterprise_fixture()["segment"]

    # When its metrics are computed as of today (2026-11-22; S = 2025-11-22)
    m = analytics.segment_metrics(segment_id=ent.pk, as_of=today)

    # Then, population as of D: A1 A2 A3 A4 A5 A6 A8 (A7 left) = 7 accounts
    assert m.population == PopulationKind.TRAILING and m.population_since is None
    assert m.window_start == date(2025, 11, 22)
    assert m.accounts == 7
    # ARR on D: 120 + 150 + 0 + 400 + 500 + 50 + 0 = 1220; average 1220 / 7 = 174.2857
    assert m.arr == Decimal("1220.00")
    assert m.avg_arr == Decimal("174.29")
    # P = A1 A2 A3 A4 A7: Σ ARR S = 100+200+300+400+60 = 1060; Σ ARR D = 120+150+0+400+60 = 730
    assert m.population_size == 5
    assert m.nrr == Decimal("0.6887")  # 730 / 1060 = 0.68868
    # Σ min = 100 + 150 + 0 + 400 + 60 = 710; 710 / 1060 = 0.66981
    assert m.grr == Decimal("0.6698")
    assert m.logo_churn_rate == Decimal("0.2000")  # A3 of 5
    # Contracts of P ending in (S, D], renewed or churned: A1 renewed, A2 renewed,
    # A3 churned, A7 renewed (A4's is still active, not decided) -> 3 / 4
    assert m.renewal_rate == Decimal("0.7500")
    assert m.contracts_up_for_renewal == 4
    # Cost known for A1 A2 A4 A5: (12 + 30 + 40 + 50) / (120 + 150 + 400 + 500) = 132 / 1170
    assert m.cost_to_serve_ratio == Decimal("0.1128")
    # CAC known for A1 A2 A5: avg 1540 / 3 = 513.33; avg MRR (120+150+500)/3/12 = 21.39;
    # payback = 12 * 1540 / 770 = 24 months
    assert m.avg_cac == Decimal("513.33")
    assert m.cac_payback_months == Decimal("24.00")
    # LTV = (1220 / 7) / (1 / 5) = 871.43
    assert m.ltv == Decimal("871.43") and m.ltv_no_churn is False
    # Health known for A1 A2 A3 A5: (80 + 60 + 20 + 90) / 4
    assert m.avg_health == Decimal("62.50")


def test_metrics_as_of_a_past_date_use_the_events_and_contracts_as_they_stood(today):
    # Given the Enterprise fixture
    ent = enterprise_fixture()["segment"]

    # When computed as of 2026-04-01 (S = 2025-04-01)
    m = analytics.segment_metrics(segment_id=ent.pk, as_of=date(2026, 4, 1))

    # Then all eight accounts were members (A7 left later, A5 entered 2026-03-01)
    assert m.accounts == 8
    # ARR on 2026-04-01: 120 + 200 + 0 + 400 + 500 + 50 + 60 + 0 (cancelled) = 1330
    assert m.arr == Decimal("1330.00")
    # P: members at S with ARR on S > 0 = A1 (100), A3 (300), A7 (60); A2 and A4 had not
    # started, A6 had no contract, A8's is cancelled. ARR on D: 120, 0, 60.
    assert m.population_size == 3
    assert m.nrr == Decimal("0.3913")  # 180 / 460
    assert m.grr == Decimal("0.3478")  # (100 + 0 + 60) / 460
    assert m.logo_churn_rate == Decimal("0.3333")
    # Ending in (2025-04-01, 2026-04-01]: A1 renewed, A3 churned, A7 renewed -> 2 / 3
    assert m.renewal_rate == Decimal("0.6667")


def test_a_segment_younger_than_the_window_uses_every_member_since_it_began(today):
    # Given a segment created 2026-06-01 (after S = 2025-11-22)
    new = segment("New logos", date(2026, 6, 1))
    b1, b2, b3, b4 = AccountFactory.create_batch(4)
    # B1: 100 throughout, entered 06-15 and left 09-01 (still counts: it was a member)
    contract(b1, date(2026, 1, 1), date(2026, 12, 31), 100)
    member(new, b1, date(2026, 6, 15), exited=date(2026, 9, 1))
    # B2: 200 at entry (06-15), churned 07-31 -> 0 on D
    contract(b2, date(2026, 2, 1), date(2026, 7, 31), 200, CHURNED)
    member(new, b2, date(2026, 6, 15))
    # B3: no ARR on its entry day (its contract starts later) -> not in P
    contract(b3, date(2026, 9, 1), date(2027, 8, 31), 300)
    member(new, b3, date(2026, 8, 10))
    # B4: entered 07-01 on its renewal contract (130); the renewed one ended 06-30
    contract(b4, date(2026, 3, 1), date(2026, 6, 30), 100, RENEWED)
    contract(b4, date(2026, 7, 1), date(2027, 6, 30), 130)
    member(new, b4, date(2026, 7, 1))

    # When its metrics are computed as of today
    m = analytics.segment_metrics(segment_id=new.pk, as_of=today)

    # Then the population says since_created, from the day the segment began
    assert m.population == PopulationKind.SINCE_CREATED
    assert m.population_since == date(2026, 6, 1) == m.window_start
    # P = B1 (100 -> 100), B2 (200 -> 0), B4 (130 -> 130): 230 / 430
    assert m.population_size == 3
    assert m.nrr == Decimal("0.5349")
    assert m.grr == Decimal("0.5349")
    assert m.logo_churn_rate == Decimal("0.3333")
    # Only B2's churned contract ended after its account entered -> 0 / 1
    assert m.renewal_rate == Decimal("0.0000")
    assert m.accounts == 3  # B2, B3, B4


def test_empty_population_gives_nulls_not_zeros(today):
    # Given a segment with no members ever
    empty = segment("Empty", date(2024, 1, 1))

    # When
    m = analytics.segment_metrics(segment_id=empty.pk, as_of=today)

    # Then totals are zero and every ratio is null
    assert (m.accounts, m.arr, m.population_size) == (0, Decimal("0.00"), 0)
    for name in (
        "avg_arr",
        "nrr",
        "grr",
        "logo_churn_rate",
        "renewal_rate",
        "cost_to_serve_ratio",
        "avg_cac",
        "cac_payback_months",
        "ltv",
        "avg_health",
    ):
        assert getattr(m, name) is None, name
    assert m.ltv_no_churn is False


def test_no_churn_gives_no_ltv_and_the_flag(today):
    # Given a segment whose window population all kept their ARR
    seg = segment("Loyal", date(2024, 1, 1))
    acct = AccountFactory()
    contract(acct, date(2025, 6, 1), date(2027, 5, 31), 1000)
    member(seg, acct, date(2025, 6, 1))

    # When
    m = analytics.segment_metrics(segment_id=seg.pk, as_of=today)

    # Then
    assert m.logo_churn_rate == Decimal("0.0000")
    assert m.ltv is None and m.ltv_no_churn is True
    assert m.nrr == m.grr == Decimal("1.0000")


def test_many_segments_cost_the_same_few_queries(today):
    # Given three segments
    ent = enterprise_fixture()["segment"]
    others = [segment(f"S{n}", date(2024, 1, 1)) for n in range(2)]
    young = segment("Young", date(2026, 10, 1))
    ids = [ent.pk, young.pk, *[s.pk for s in others]]

    # When all are computed together
    with CaptureQueriesContext(connection) as queries:
        result = analytics.segment_metrics_many(segment_ids=ids, as_of=today)

    # Then every segment has a result, from four statements (when was each segment created;
    # the population as of D; the window of the old segments; that of the young one)
    assert set(result) == set(ids)
    reads = [q for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(reads) == 4
    assert result[ent.pk].accounts == 7


def test_growth_keeps_the_last_snapshot_of_each_day(today):
    from segments.models import SegmentSnapshot
    from segments.tests.analytics_fixtures import at

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


def test_overlap_counts_pairs_and_accounts_in_none(today):
    # Given X = {a, b, e}, Y = {a, b}, Z = {b, c}; d is in none; c left Z in October
    x, y, z = (segment(n, date(2024, 1, 1)) for n in ("X", "Y", "Z"))
    a, b, c, d, e = AccountFactory.create_batch(5)
    joined = date(2026, 1, 10)
    for seg, accts in ((x, (a, b, e)), (y, (a, b)), (z, (b,))):
        for acct in accts:
            member(seg, acct, joined)
    member(z, c, joined, exited=date(2026, 10, 1))

    # When the overlap is read today
    overlap = analytics.segment_overlap(segment_ids=[x.pk, y.pk, z.pk], as_of=today)

    # Then
    assert overlap.matrix == [[3, 2, 1], [2, 2, 1], [1, 1, 1]]
    assert overlap.pairs() == [(x.pk, y.pk, 2), (x.pk, z.pk, 1), (y.pk, z.pk, 1)]
    assert (overlap.accounts_total, overlap.in_any, overlap.in_none) == (5, 3 + 0, 2)

    # And as of September c was still in Z (accounts created today do not exist then,
    # unless they were customers already: none here)
    past = analytics.segment_overlap(segment_ids=[x.pk, y.pk, z.pk], as_of=date(2026, 9, 1))
    assert past.matrix == [[3, 2, 1], [2, 2, 1], [1, 1, 2]]
    assert past.in_any == 4


def test_figures_give_the_metrics_and_the_overlap_of_the_same_population(today):
    # Given the overlap fixture's segments, with contracts so that the metrics are not empty
    x, y, z = (segment(n, date(2024, 1, 1)) for n in ("X", "Y", "Z"))
    a, b, c, d = AccountFactory.create_batch(4)
    for acct, arr in ((a, 1000), (b, 2500), (c, 400)):
        contract(acct, date(2024, 6, 1), date(2027, 6, 1), arr)
    joined = date(2026, 1, 10)
    for seg, accts in ((x, (a, b)), (y, (a,)), (z, (b,))):
        for acct in accts:
            member(seg, acct, joined)
    member(z, c, joined, exited=date(2026, 10, 1))
    ids = [z.pk, x.pk, y.pk]  # not in id order: bit i is ids[i]

    for as_of in (today, date(2026, 9, 1)):
        # When both are read at once, then they are exactly what each selector gives alone
        figures = analytics.segment_figures(segment_ids=ids, as_of=as_of)
        assert figures.metrics == analytics.segment_metrics_many(segment_ids=ids, as_of=as_of)
        assert figures.overlap == analytics.segment_overlap(segment_ids=ids, as_of=as_of)
    assert figures.overlap.matrix == [[2, 1, 0], [1, 2, 1], [0, 1, 1]]
    assert figures.metrics[z.pk].accounts == 2 and figures.metrics[z.pk].arr == Decimal("2900.00")


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
