"""The metric selectors (segments.analytics.metrics) against hand-computed fixtures
(docs/metrics.md)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import AccountFactory
from segments import analytics
from segments.analytics import PopulationKind
from segments.tests.analytics_fixtures import (
    CHURNED,
    RENEWED,
    contract,
    enterprise_fixture,
    member,
    segment,
)

pytestmark = pytest.mark.django_db


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
    reads = [
        q
        for q in queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
        and not q["sql"].startswith("SELECT set_config(")  # planner settings, not reads
    ]
    assert len(reads) == 4
    assert result[ent.pk].accounts == 7
