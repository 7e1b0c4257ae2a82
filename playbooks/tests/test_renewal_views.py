"""The renewal page (forecast and outcome forms) and the forecast page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from customers import services as customer_services
from customers.models import ContractStatus
from customers.tests.factories import AccountFactory
from playbooks import services
from playbooks.models import ChurnReason, Renewal

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("default_churn_reasons"),
    pytest.mark.usefixtures("default_windows"),
]


@pytest.fixture
def contract(today, csm):
    account = AccountFactory(name="ACME")
    customer_services.csm_assign(account=account, user=csm)
    contract = customer_services.contract_create(
        account=account,
        start_date=today - timedelta(days=300),
        end_date=today + timedelta(days=60),
        arr=Decimal("120000.00"),
    )
    services.renewal_queue_rebuild(today=today)
    return contract


def test_owner_forecasts_and_churns_from_the_renewal_page(client, csm, contract):
    client.force_login(csm)
    url = reverse("renewal-detail", args=[contract.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"Save forecast" in page.content
    # When the owner saves a forecast
    response = client.post(
        url, {"action": "forecast", "f-forecast": "at_risk", "f-expected_arr": "90000"}
    )
    assert response.status_code == 302
    assert Renewal.objects.get(contract=contract).forecast == "at_risk"
    assert "Forecast set to <strong>At risk</strong>, $90,000 expected" in (
        client.get(url).content.decode()
    )
    # A churn without a reason is a form error naming the field, nothing written
    response = client.post(url, {"action": "outcome", "o-outcome": "churned"})
    assert response.status_code == 400
    assert "Say why the customer churned." in response.content.decode()
    contract.refresh_from_db()
    assert contract.status == ContractStatus.ACTIVE
    # With a reason it closes
    reason = ChurnReason.objects.get(name="Low adoption")
    response = client.post(
        url, {"action": "outcome", "o-outcome": "churned", "o-churn_reason": reason.pk}
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == ContractStatus.CHURNED
    assert "Reason: Low adoption." in client.get(url).content.decode()


def test_another_csm_reads_but_cannot_post(client, other_csm, contract):
    client.force_login(other_csm)
    url = reverse("renewal-detail", args=[contract.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"Save forecast" not in page.content
    response = client.post(url, {"action": "forecast", "f-forecast": "commit"})
    assert response.status_code == 403


def test_forecast_page_totals(client, manager, csm, contract):
    services.renewal_forecast_set(contract=contract, forecast="commit", by=csm)
    client.force_login(manager)
    response = client.get(reverse("renewal-forecast"))
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["totals"]["total"]["commit_n"] == 1
    assert "$120,000" in body and 'id="forecast-by-csm"' in body
    assert client.get(reverse("renewal-forecast"), {"csm": "nobody"}).status_code == 404
