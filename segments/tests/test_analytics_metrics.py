"""The metric selectors (segments.analytics.metrics) against hand-computed fixtures
(docs/metrics.md)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.services import accounts_rederive
from customers.tests.factories import AccountFactory
from segments import analytics
from segments.analytics import PopulationKind
from segments.engine import segment_recompute
from segments.services import segment_create
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


def test_a_segment_younger_than_the_window_measures_its_members_from_s(today):
    # Given a segment created 2026-06-01 (after S = 2025-11-22): DESIGN section 6 keeps
    # S = D - 365 days and takes P = every account that has been a member since it began,
    # with ARR on S > 0 read from contract history
    new = segment("New logos", date(2026, 6, 1))
    b1, b2, b3, b4, outsider = AccountFactory.create_batch(5)
    # B1: 100 throughout; entered 06-15 and left 09-01 (still in P: it was a member)
    contract(b1, date(2025, 1, 1), date(2026, 12, 31), 100)
    member(new, b1, date(2026, 6, 15), exited=date(2026, 9, 1))
    # B2: 200 on S, churned 07-31 -> 0 on D
    contract(b2, date(2025, 2, 1), date(2026, 7, 31), 200, CHURNED)
    member(new, b2, date(2026, 6, 15))
    # B3: no ARR on S (its first contract starts later) -> not in P
    contract(b3, date(2026, 9, 1), date(2027, 8, 31), 300)
    member(new, b3, date(2026, 8, 10))
    # B4: 100 on S, renewed on 07-01 at 130
    contract(b4, date(2025, 7, 1), date(2026, 6, 30), 100, RENEWED)
    contract(b4, date(2026, 7, 1), date(2027, 6, 30), 130)
    member(new, b4, date(2026, 7, 1))
    # Never a member: not in P whatever its contracts
    contract(outsider, date(2025, 1, 1), date(2026, 3, 31), 999, CHURNED)

    # When its metrics are computed as of today
    m = analytics.segment_metrics(segment_id=new.pk, as_of=today)

    # Then the population says since_created, from the day the segment began, but the
    # window still starts at S
    assert m.population == PopulationKind.SINCE_CREATED
    assert m.population_since == date(2026, 6, 1)
    assert m.window_start == date(2025, 11, 22)
    # P = B1 (100 -> 100), B2 (200 -> 0), B4 (100 -> 130): NRR 230 / 400
    assert m.population_size == 3
    assert m.nrr == Decimal("0.5750")
    # GRR: (100 + 0 + 100) / 400
    assert m.grr == Decimal("0.5000")
    assert m.logo_churn_rate == Decimal("0.3333")
    # P's contracts ending in (S, D] and decided: B2's churned, B4's renewed -> 1 / 2
    assert m.renewal_rate == Decimal("0.5000")
    assert m.contracts_up_for_renewal == 2
    assert m.accounts == 3  # B2, B3, B4


def test_a_segment_created_today_reports_how_its_members_revenue_moved_over_the_year():
    # Given a segment created today (the real today: it is created through the service and
    # recomputed by the engine, both stamped with the real clock), over accounts whose ARR
    # changed during the year; S = D - 365 days
    d = timezone.localdate()
    s = d - timedelta(days=365)
    c1, c2, c3, c4 = (AccountFactory(name=f"C{n}") for n in range(1, 5))
    # C1 expanded: 1,000 on S, renewed 180 days ago at 1,200
    contract(c1, s - timedelta(days=100), d - timedelta(days=181), 1000, RENEWED)
    contract(c1, d - timedelta(days=180), d + timedelta(days=185), 1200)
    # C2 contracted: 500 on S, renewed 60 days ago at 200
    contract(c2, s - timedelta(days=30), d - timedelta(days=61), 500, RENEWED)
    contract(c2, d - timedelta(days=60), d + timedelta(days=305), 200)
    # C3 flat: 800 all year
    contract(c3, s - timedelta(days=200), d + timedelta(days=40), 800)
    # C4 is new this year: no ARR on S, so not in P
    contract(c4, d - timedelta(days=90), d + timedelta(days=275), 400)
    accounts_rederive(account_ids=[c1.pk, c2.pk, c3.pk, c4.pk])
    seg = segment_create(name="Paying", rule={"field": "arr", "op": "gt", "value": 0}, publish=True)
    segment_recompute(segment_id=seg.pk)

    # When its metrics are computed as of today
    m = analytics.segment_metrics(segment_id=seg.pk, as_of=d)

    # Then, by hand: P = C1, C2, C3; Σ ARR on S = 1,000 + 500 + 800 = 2,300;
    # Σ ARR on D = 1,200 + 200 + 800 = 2,200 -> NRR = 2,200 / 2,300 = 0.95652
    assert m.accounts == 4
    assert m.population == PopulationKind.SINCE_CREATED
    assert m.population_since == d and m.window_start == s
    assert m.population_size == 3
    assert m.nrr == Decimal("0.9565")
    assert m.nrr != Decimal("1")
    # GRR = (1,000 + 200 + 800) / 2,300 = 0.86957; nobody churned
    assert m.grr == Decimal("0.8696")
    assert m.logo_churn_rate == Decimal("0.0000")
    # C1's and C2's first contracts ended in the window, both renewed
    assert m.renewal_rate == Decimal("1.0000") and m.contracts_up_for_renewal == 2


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
