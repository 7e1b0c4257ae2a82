"""ARR by product family (segments.analytics.families and ?group_by=product_family): the
line items of the members' contracts that count on the day, per family of their product."""

from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from customers.models import ContractItem, Product
from customers.tests.factories import AccountFactory
from segments import analytics
from segments.tests.analytics_fixtures import contract, member, segment

pytestmark = pytest.mark.django_db


def sell(contract_row, code: str, family: str, arr: str) -> None:
    product, _ = Product.objects.get_or_create(code=code, defaults={"name": code, "family": family})
    ContractItem.objects.create(contract=contract_row, product=product, arr=Decimal(arr))


@pytest.fixture
def families_fixture(today):
    seg = segment("Sales suite", date(2025, 1, 1))
    a, b, outsider, former = (AccountFactory() for _ in range(4))
    for account in (a, b):
        member(seg, account, date(2025, 2, 1))
    member(seg, former, date(2025, 2, 1), exited=date(2026, 6, 1))
    a_now = contract(a, date(2026, 1, 1), date(2026, 12, 31), 1000)
    sell(a_now, "CRM", "Sales", "600.50")
    sell(a_now, "BI", "Analytics", "399.50")
    b_now = contract(b, date(2026, 3, 1), date(2027, 2, 28), 500)
    sell(b_now, "CPQ", "Sales", "500")
    sell(b_now, "ADDON", "", "0")
    # a contract that ended (churned) before today and a non-member's contract count not
    b_old = contract(b, date(2025, 1, 1), date(2025, 12, 31), 900, status="churned")
    sell(b_old, "BI", "Analytics", "900")
    sell(contract(outsider, date(2026, 1, 1), date(2026, 12, 31), 700), "CRM", "Sales", "700")
    sell(contract(former, date(2026, 1, 1), date(2026, 12, 31), 300), "CRM", "Sales", "300")
    return seg


def test_arr_by_product_family_sums_the_members_items_counting_today(families_fixture, today):
    rows = analytics.segment_arr_by_product_family(segment_id=families_fixture.pk, as_of=today)
    assert [(r.family, r.accounts, r.arr) for r in rows] == [
        ("Sales", 2, Decimal("1100.50")),
        ("Analytics", 1, Decimal("399.50")),
        ("(no family)", 1, Decimal("0.00")),
    ]


def test_arr_by_product_family_as_of_a_past_day_reads_that_days_members(families_fixture, today):
    # On 2026-02-01 the former member was still in, b's new contract had not started, and
    # b's churned contract had ended.
    rows = analytics.segment_arr_by_product_family(
        segment_id=families_fixture.pk, as_of=date(2026, 2, 1)
    )
    assert [(r.family, r.accounts, r.arr) for r in rows] == [
        ("Sales", 2, Decimal("900.50")),
        ("Analytics", 1, Decimal("399.50")),
    ]


def test_metrics_api_groups_by_product_family_on_request(families_fixture, csm):
    client = APIClient()
    client.force_authenticate(csm)
    url = f"/api/segments/{families_fixture.pk}/metrics/"
    plain = client.get(url)
    assert plain.status_code == 200 and "arr_by_product_family" not in plain.json()
    grouped = client.get(url + "?group_by=product_family")
    assert grouped.status_code == 200, grouped.content
    assert grouped.json()["arr_by_product_family"][0] == {
        "family": "Sales",
        "accounts": 2,
        "arr": 1100.5,
    }
    assert client.get(url + "?group_by=colour").status_code == 400
