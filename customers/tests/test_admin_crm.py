"""Admin of the picklists and products (DESIGN 10): values inline, the review count, and
the checks of the services (a value a published rule uses is not deleted)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import Account, ContractItem, Picklist, PicklistValue, Product
from customers.tests.factories import ContractFactory
from customers.tests.test_admin import form_data
from segments.tests.engine_fixtures import published

pytestmark = pytest.mark.django_db


def test_picklist_list_shows_the_count_of_values_to_review(admin_client):
    industry = Picklist.objects.get(field="industry")
    PicklistValue.objects.create(picklist=industry, value="Biotech", needs_review=True)
    PicklistValue.objects.create(picklist=industry, value="Agritech", needs_review=True)
    page = admin_client.get(reverse("admin:customers_picklist_changelist")).content.decode()
    assert f"?picklist__id__exact={industry.pk}&amp;needs_review__exact=1" in page
    assert ">2</a>" in page


def test_picklist_inline_adds_a_value_and_refuses_deleting_one_a_rule_uses(admin_client):
    region = Picklist.objects.get(field="region")
    published("EMEA accounts", {"field": "region", "op": "eq", "value": "EMEA"})
    url = reverse("admin:customers_picklist_change", args=[region.pk])
    data = form_data(admin_client.get(url))
    emea_index = next(
        key.split("-")[1]
        for key, value in data.items()
        if key.startswith("values-") and key.endswith("-value") and value == "EMEA"
    )
    data[f"values-{emea_index}-DELETE"] = "on"
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "EMEA accounts" in refused.content.decode()
    assert PicklistValue.objects.filter(picklist=region, value="EMEA").exists()
    # a new value through the extra inline row
    data = form_data(admin_client.get(url))
    extra = int(data["values-TOTAL_FORMS"]) - 1
    data[f"values-{extra}-value"] = "Oceania"
    data[f"values-{extra}-order"] = "9"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert PicklistValue.objects.filter(picklist=region, value="Oceania").exists()


def test_contract_items_inline_writes_through_the_service(admin_client):
    contract = ContractFactory(arr=Decimal("1000"))
    Product.objects.create(code="CRM", name="CRM", family="Sales")
    url = reverse("admin:customers_contract_change", args=[contract.pk])
    data = form_data(admin_client.get(url))
    data["items-TOTAL_FORMS"] = "1"
    data.update({"items-0-product": str(Product.objects.get().pk), "items-0-quantity": "2"})
    data["items-0-arr"] = "1500"
    too_much = admin_client.post(url, data)
    assert too_much.status_code == 200 and not ContractItem.objects.exists()
    data["items-0-arr"] = "600"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    item = ContractItem.objects.get()
    assert (item.product.code, item.quantity, item.arr) == ("CRM", 2, Decimal("600.00"))
    assert Account.objects.filter(pending_evaluation__isnull=False, pk=contract.account_id)


def merge_post(admin_client, values: list[PicklistValue], **extra: str):
    url = reverse("admin:customers_picklistvalue_changelist")
    data = {"action": "merge_values_action", "_selected_action": [v.pk for v in values]}
    return admin_client.post(url, {**data, **extra}, follow=True)


def test_merge_action_rewrites_the_accounts_and_deletes_the_merged_values(admin_client):
    industry = Picklist.objects.get(field="industry")
    tech = PicklistValue.objects.create(picklist=industry, value="Technology")
    typo = PicklistValue.objects.create(picklist=industry, value="Tech", needs_review=True)
    it = PicklistValue.objects.create(picklist=industry, value="IT", needs_review=True)
    first = Account.objects.create(external_id="a-1", name="One", industry="Tech")
    second = Account.objects.create(external_id="a-2", name="Two", industry="IT")
    form_page = merge_post(admin_client, [typo, it])
    page = form_page.content.decode()
    assert "Merge industry values" in page
    assert f'<option value="{tech.pk}">' in page and f'<option value="{typo.pk}">' not in page
    done = merge_post(admin_client, [typo, it], apply="1", into=str(tech.pk))
    assert (
        "Merged &#x27;IT&#x27;, &#x27;Tech&#x27; into &#x27;Technology&#x27;"
        in done.content.decode()
    )
    assert set(Account.objects.values_list("industry", flat=True)) == {"Technology"}
    assert not PicklistValue.objects.filter(pk__in=[typo.pk, it.pk]).exists()
    assert (
        Account.objects.filter(
            pk__in=[first.pk, second.pk], pending_evaluation__isnull=False
        ).count()
        == 2
    )


def test_merge_action_is_all_or_nothing_when_a_rule_uses_a_value(admin_client):
    region = Picklist.objects.get(field="region")
    emea = PicklistValue.objects.get(picklist=region, value="EMEA")
    europe = PicklistValue.objects.create(picklist=region, value="Europe")
    africa = PicklistValue.objects.create(picklist=region, value="Africa")
    Account.objects.create(external_id="a-1", name="One", region="Europe")
    published("EMEA accounts", {"field": "region", "op": "eq", "value": "EMEA"})
    done = merge_post(admin_client, [europe, emea], apply="1", into=str(africa.pk))
    page = done.content.decode()
    assert "Nothing was merged" in page and "EMEA accounts" in page
    assert Account.objects.get(external_id="a-1").region == "Europe"
    assert PicklistValue.objects.filter(pk__in=[europe.pk, emea.pk]).count() == 2


def test_merge_action_refuses_values_of_two_picklists(admin_client):
    emea = PicklistValue.objects.get(picklist__field="region", value="EMEA")
    other = PicklistValue.objects.filter(picklist__field="plan").first()
    page = merge_post(admin_client, [emea, other]).content.decode()
    assert "Choose values of one picklist to merge." in page
