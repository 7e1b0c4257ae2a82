"""The accounts behind a figure (segments.analytics.drilldown and its page and CSV): each
list adds up to the figure it explains."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.tests.factories import AccountFactory
from segments import analytics
from segments.analytics.drilldown import Figure, FigureQuery, figure_accounts, figure_accounts_all
from segments.tests.analytics_fixtures import contract, enterprise_fixture, member, segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_analytics_cache(settings):
    settings.CS_ANALYTICS_CACHE_SECONDS = 0


def test_the_window_population_adds_up_to_nrr_and_grr(today):
    # Given the Enterprise fixture (P = A1 A2 A3 A4 A7)
    fixture = enterprise_fixture()
    ent, a = fixture["segment"], fixture["accounts"]
    metrics = analytics.segment_metrics(segment_id=ent.pk, as_of=today)

    # When its window population is listed
    result = figure_accounts(FigureQuery(figure=Figure.WINDOW, as_of=today, segment_id=ent.pk))

    # Then it holds P's accounts and its totals give the same NRR
    assert {row.account for row in result.rows} == {a[1], a[2], a[3], a[4], a[7]}
    assert result.totals.accounts == metrics.population_size == 5
    assert (result.totals.arr_start, result.totals.arr_end) == (Decimal("1060"), Decimal("730"))
    assert (result.totals.arr_end / result.totals.arr_start).quantize(Decimal("0.0001")) == (
        metrics.nrr
    )
    assert (result.start, result.end) == (date(2025, 11, 22), today)
    # largest ARR at the end first
    assert [row.arr_end for row in result.rows] == sorted(
        (row.arr_end for row in result.rows), reverse=True
    )


def test_churned_renewals_members_and_overlap(today):
    fixture = enterprise_fixture()
    ent, a = fixture["segment"], fixture["accounts"]

    def accounts(figure: Figure, **extra) -> set:
        query = FigureQuery(figure=figure, as_of=today, segment_id=ent.pk, **extra)
        return {row.account for row in figure_accounts(query).rows}

    assert accounts(Figure.CHURNED) == {a[3]}
    # contracts decided in the window: A1, A2 and A7 renewed, A3 churned
    renewals = figure_accounts(FigureQuery(figure=Figure.RENEWALS, as_of=today, segment_id=ent.pk))
    assert {row.account for row in renewals.rows} == {a[1], a[2], a[3], a[7]}
    assert (renewals.totals.renewed, renewals.totals.decided) == (3, 4)
    assert accounts(Figure.MEMBERS) == {a[n] for n in (1, 2, 3, 4, 5, 6, 8)}
    other = segment("Other", date(2024, 1, 1))
    member(other, a[1], date(2025, 1, 1))
    member(other, a[7], date(2025, 1, 1))
    assert accounts(Figure.OVERLAP, other_id=other.pk) == {a[1]}


def test_a_young_segment_lists_its_members_since_created_measured_from_s(today):
    # Given a segment created 2026-06-01 with a member that left and one without ARR on S
    young = segment("Young", date(2026, 6, 1))
    kept, gone, new = AccountFactory.create_batch(3)
    contract(kept, date(2025, 1, 1), date(2026, 12, 31), 100)
    contract(gone, date(2025, 1, 1), date(2026, 12, 31), 50)
    contract(new, date(2026, 7, 1), date(2027, 6, 30), 70)
    member(young, kept, date(2026, 6, 2))
    member(young, gone, date(2026, 6, 2), exited=date(2026, 8, 1))
    member(young, new, date(2026, 7, 1))

    # When
    result = figure_accounts(FigureQuery(figure=Figure.WINDOW, as_of=today, segment_id=young.pk))

    # Then P = the members since created with ARR on S
    assert {row.account for row in result.rows} == {kept, gone}
    assert analytics.segment_metrics(segment_id=young.pk, as_of=today).population_size == 2


def test_a_cohort_cell_lists_its_accounts(today):
    early = AccountFactory(customer_since=date(2026, 3, 5), plan="pro")
    contract(early, date(2026, 3, 5), date(2027, 3, 4), 100)
    AccountFactory(customer_since=date(2026, 4, 1))  # another month
    query = FigureQuery(figure=Figure.COHORT, as_of=today, month=date(2026, 3, 1), plan="pro")
    result = figure_accounts(query)
    assert [row.account for row in result.rows] == [early]
    assert result.start == date(2026, 3, 31)


def test_the_export_pages_through_every_account(today, monkeypatch):
    ent = enterprise_fixture()["segment"]
    monkeypatch.setattr("segments.analytics.drilldown.EXPORT_BATCH", 2)
    rows = list(
        figure_accounts_all(FigureQuery(figure=Figure.MEMBERS, as_of=today, segment_id=ent.pk))
    )
    assert len(rows) == 7 == len({row.account.pk for row in rows})


def test_the_page_the_csv_and_bad_links(client, csm, today):
    # Given a segment whose member is named like a formula
    seg = segment("Seg", date(2024, 1, 1))
    acct = AccountFactory(name="=HYPERLINK(evil)")
    contract(acct, date(2025, 1, 1), date(2026, 12, 31), 100)
    member(seg, acct, date(2025, 1, 1))
    client.force_login(csm)
    params = {"figure": "window", "segment": seg.pk, "as_of": "2026-11-22"}

    # When the page and its CSV are opened
    page = client.get(reverse("analytics-accounts"), params)
    export = client.get(reverse("analytics-accounts-csv"), params)

    # Then the page lists the account and the CSV escapes the formula
    assert page.status_code == 200
    assert "=HYPERLINK(evil)" in page.content.decode()
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:2] == ["account_id", "account"]
    assert rows[1][1] == "'=HYPERLINK(evil)" and rows[1][4:6] == ["100.00", "100.00"]
    # and a link that names no figure, or a future date, is a 400 naming the field
    bad = client.get(reverse("analytics-accounts"), {"figure": "overlap", "segment": seg.pk})
    assert bad.status_code == 400 and "second segment" in bad.content.decode()
    future = client.get(reverse("analytics-accounts-csv"), {**params, "as_of": "2099-01-01"})
    assert future.status_code == 400 and b"as_of" in future.content
    assert client.get(reverse("analytics-accounts"), {"figure": "nope"}).status_code == 400
