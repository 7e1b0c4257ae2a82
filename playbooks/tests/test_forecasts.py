"""A renewal's forecast and outcome (DESIGN 4): the services, the API and the totals."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from customers import services as customer_services
from customers.models import Contract, ContractStatus
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from playbooks import selectors, services
from playbooks.models import ChurnReason, Renewal, RenewalChange, Task
from playbooks.services import forecasts

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("default_churn_reasons"),
    pytest.mark.usefixtures("default_windows"),
]


@pytest.fixture
def renewal(today, csm):
    """An account of csm's book with a $120,000 contract ending in 60 days, queued."""
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


def test_the_owner_sets_a_forecast_with_its_history(renewal, csm):
    # When the owner forecasts the renewal at risk, then commit with a default ARR
    forecasts.renewal_forecast_set(
        contract=renewal, forecast="at_risk", expected_arr="80000", note="budget", by=csm
    )
    forecasts.renewal_forecast_set(contract=renewal, forecast="commit", by=csm)

    # Then the renewal holds the latest, and the history both
    row = Renewal.objects.get(contract=renewal)
    assert (row.forecast, row.expected_arr, row.forecast_by) == (
        "commit",
        Decimal("120000.00"),
        csm,
    )
    assert list(RenewalChange.objects.values_list("forecast", "arr", "note")) == [
        ("at_risk", Decimal("80000.00"), "budget"),
        ("commit", Decimal("120000.00"), ""),
    ]
    # And the queue shows it
    entry = selectors.renewal_queue_list(tightest_only=True).get(contract=renewal)
    assert (entry.forecast, entry.expected_arr) == ("commit", Decimal("120000.00"))


def test_forecast_is_refused_to_another_csm_and_for_bad_values(renewal, other_csm, csm):
    with pytest.raises(PermissionDenied):
        forecasts.renewal_forecast_set(contract=renewal, forecast="commit", by=other_csm)
    with pytest.raises(ValidationError) as error:
        forecasts.renewal_forecast_set(contract=renewal, forecast="maybe", by=csm)
    assert "forecast" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        forecasts.renewal_forecast_set(
            contract=renewal, forecast="likely", expected_arr="abc", by=csm
        )
    assert error.value.message_dict["expected_arr"] == ["Expected an amount of money, got 'abc'."]
    assert not Renewal.objects.filter(forecast__gt="").exists()


def test_renewed_creates_the_next_contract_and_closes_the_task(renewal, csm, today):
    # Given the renewal's open task
    task = Task.objects.get(contract=renewal, status="open")

    # When the owner records it renewed at a higher ARR
    closed = forecasts.renewal_close(contract=renewal, outcome="renewed", new_arr="130000", by=csm)

    # Then the old contract is renewed, a new one follows it, and the task is done
    renewal.refresh_from_db()
    assert renewal.status == ContractStatus.RENEWED
    following = closed.new_contract
    assert (following.start_date, following.end_date, following.arr) == (
        renewal.end_date + timedelta(days=1),
        renewal.end_date + timedelta(days=365),
        Decimal("130000.00"),
    )
    assert (closed.outcome, closed.outcome_arr, closed.closed_by) == (
        "renewed",
        Decimal("130000.00"),
        csm,
    )
    task.refresh_from_db()
    assert task.status == "done"
    assert task.status_changes.latest("id").note == "Renewal closed: renewed."
    # And a second close is refused
    with pytest.raises(ValidationError) as error:
        forecasts.renewal_close(contract=renewal, outcome="churned", by=csm)
    assert "contract" in error.value.message_dict


def test_downgraded_links_an_existing_lower_contract(renewal, csm, today):
    # Given a new, smaller contract already entered for the account
    smaller = customer_services.contract_create(
        account=renewal.account,
        start_date=renewal.end_date + timedelta(days=1),
        end_date=renewal.end_date + timedelta(days=365),
        arr=Decimal("90000.00"),
    )
    # When the renewal is closed as downgraded, linking it
    closed = forecasts.renewal_close(
        contract=renewal, outcome="downgraded", new_contract=smaller, by=csm
    )
    # Then it links that contract; no contract is created
    assert closed.new_contract == smaller and closed.outcome_arr == Decimal("90000.00")
    assert Contract.objects.filter(account=renewal.account).count() == 2


def test_a_downgrade_must_lower_the_arr_and_nothing_is_half_written(renewal, csm):
    with pytest.raises(ValidationError) as error:
        forecasts.renewal_close(contract=renewal, outcome="downgraded", new_arr="150000", by=csm)
    assert "new_arr" in error.value.message_dict
    renewal.refresh_from_db()
    assert renewal.status == ContractStatus.ACTIVE
    assert Contract.objects.filter(account=renewal.account).count() == 1


def test_churned_needs_an_active_reason(renewal, csm):
    with pytest.raises(ValidationError) as error:
        forecasts.renewal_close(contract=renewal, outcome="churned", by=csm)
    assert "churn_reason" in error.value.message_dict
    reason = ChurnReason.objects.get(name="Budget cut")
    closed = forecasts.renewal_close(
        contract=renewal, outcome="churned", churn_reason=reason, by=csm
    )
    renewal.refresh_from_db()
    assert renewal.status == ContractStatus.CHURNED
    assert (closed.outcome_arr, closed.churn_reason) == (Decimal("0.00"), reason)


def test_api_forecast_outcome_and_filters(renewal, csm, other_csm, manager, today):
    client = api_client(csm)
    # When the owner forecasts through the API
    response = client.post(
        f"/api/renewals/{renewal.pk}/forecast/",
        {"forecast": "likely", "expected_arr": "110000.00"},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert (response.data["forecast"], response.data["expected_arr"]) == ("likely", "110000.00")
    # Then the queue lists it with its forecast and filters by it
    listed = client.get("/api/renewals/?tightest=true&forecast=likely").data["results"]
    assert [(r["contract"], r["window"], r["forecast"]) for r in listed] == [
        (renewal.pk, 90, "likely")
    ]
    assert client.get("/api/renewals/?forecast=none").data["count"] == 0
    assert client.get("/api/renewals/").data["count"] == 2  # both windows' entries
    # And another CSM may not, and a bad value names its field
    assert (
        api_client(other_csm)
        .post(f"/api/renewals/{renewal.pk}/forecast/", {"forecast": "commit"}, format="json")
        .status_code
        == 403
    )
    bad = client.post(f"/api/renewals/{renewal.pk}/forecast/", {"forecast": "x"}, format="json")
    assert bad.status_code == 400 and "forecast" in bad.data
    # When it churns through the API, with a reason
    reason = client.get("/api/churn-reasons/").data["results"][0]["id"]
    response = client.post(
        f"/api/renewals/{renewal.pk}/outcome/",
        {"outcome": "churned", "churn_reason": reason, "note": "moved to a rival"},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["outcome"] == "churned"
    # Then the closed renewals list shows it, filtered by outcome and CSM
    outcomes = client.get("/api/renewals/outcomes/?outcome=churned&csm=csm").data
    assert [r["contract"] for r in outcomes["results"]] == [renewal.pk]
    assert client.get("/api/renewals/outcomes/?outcome=renewed").data["count"] == 0
    # And managers edit the reasons, CSMs may not
    assert client.post("/api/churn-reasons/", {"name": "Price"}, format="json").status_code == 403
    created = api_client(manager).post("/api/churn-reasons/", {"name": "Price"}, format="json")
    assert created.status_code == 201
    patched = api_client(manager).patch(
        f"/api/churn-reasons/{created.data['id']}/", {"is_active": False}, format="json"
    )
    assert patched.status_code == 200 and patched.data["is_active"] is False


def test_forecast_totals_per_csm_and_window(renewal, csm, other_csm, today):
    # Given csm's renewal forecast commit at $100,000 (current $120,000, T-90) and
    # other_csm's unforecast $50,000 renewal in T-120
    forecasts.renewal_forecast_set(contract=renewal, forecast="commit", expected_arr=100000, by=csm)
    account = AccountFactory(name="Beta")
    customer_services.csm_assign(account=account, user=other_csm)
    customer_services.contract_create(
        account=account,
        start_date=today - timedelta(days=300),
        end_date=today + timedelta(days=100),
        arr=Decimal("50000.00"),
    )
    services.renewal_queue_rebuild(today=today)

    # When the totals are read
    totals = selectors.renewal_forecast_totals()

    # Then each contract counts once, under its tightest window, by CSM and window
    assert totals["total"]["contracts"] == 2
    assert totals["total"]["current_arr"] == Decimal("170000.00")
    assert totals["total"]["expected_arr"] == Decimal("150000.00")
    by_csm = {row["csm"]: row for row in totals["by_csm"]}
    assert (by_csm["csm"]["commit_n"], by_csm["csm"]["commit_expected"]) == (1, Decimal("100000"))
    assert (by_csm["other_csm"]["none_n"], by_csm["other_csm"]["none_arr"]) == (
        1,
        Decimal("50000"),
    )
    assert [(w["window"], w["contracts"]) for w in totals["by_window"]] == [
        ("T-90", 1),
        ("T-120", 1),
    ]
    # And the API returns the same figures
    body = api_client(csm).get("/api/renewals/forecast/?window=90").data
    assert body["total"]["contracts"] == 1
    assert body["total"]["by_forecast"]["commit"]["expected_arr"] == "100000.00"
