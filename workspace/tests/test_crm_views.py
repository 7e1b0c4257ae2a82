"""The workspace pages read the picklists and show the products (DESIGN 10)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import ContractItem, ContractStatus, Picklist, PicklistValue, Product
from customers.tests.factories import AccountFactory, ContractFactory

pytestmark = pytest.mark.django_db


def test_account_page_shows_the_products_of_active_contracts_and_picklist_labels(client, csm):
    PicklistValue.objects.filter(picklist__field="plan", value="pro").update(label="Pro plan")
    account = AccountFactory(plan="pro")
    active = ContractFactory(account=account, arr=Decimal("9000"))
    churned = ContractFactory(account=account, status=ContractStatus.CHURNED)
    analytics = Product.objects.create(code="ANALYTICS", name="Advanced Analytics", family="BI")
    legacy = Product.objects.create(code="LEGACY", name="Legacy Suite", family="Old")
    ContractItem.objects.create(contract=active, product=analytics, quantity=3, arr=Decimal("900"))
    ContractItem.objects.create(contract=churned, product=legacy)
    client.force_login(csm)
    page = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert "Advanced Analytics" in page and "<code>ANALYTICS</code>" in page
    assert "Legacy Suite" not in page
    assert "Pro plan" in page


def test_account_list_filters_by_a_value_added_to_the_picklist(client, csm):
    PicklistValue.objects.create(picklist=Picklist.objects.get(field="region"), value="Oceania")
    AccountFactory(name="Down under", region="Oceania")
    AccountFactory(name="Up over", region="NA")
    client.force_login(csm)
    page = client.get(reverse("account-list"), {"region": "Oceania"}).content.decode()
    assert "Down under" in page and "Up over" not in page
    assert '<option value="Oceania"' in page
