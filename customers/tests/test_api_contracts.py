"""Contracts, assignments and custom attribute definitions over the API."""

from datetime import date
from decimal import Decimal

import pytest

from customers.models import AttributeDefinition, Contract, CSMAssignment
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory, ContractFactory

pytestmark = pytest.mark.django_db


def test_create_contract_rederives_account_arr(manager):
    account = AccountFactory()
    response = api_client(manager).post(
        "/api/contracts/",
        {
            "account": account.id,
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "arr": "50000.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "active"
    account.refresh_from_db()
    assert (account.arr, account.renewal_date) == (Decimal("50000.00"), date(2026, 12, 31))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"end_date": "2025-01-01"}, "end_date"),
        ({"arr": "-1"}, "arr"),
        ({"status": "paused"}, "status"),
        ({"account": 999999}, "account"),
        ({"arr": "1e30"}, "arr"),
    ],
)
def test_create_contract_errors_name_the_field(manager, change, field):
    account = AccountFactory()
    payload = {
        "account": account.id,
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "arr": "100",
        **change,
    }
    response = api_client(manager).post("/api/contracts/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Contract.objects.exists()


def test_patch_contract_churn_drops_account_arr(manager):
    contract = ContractFactory(arr=Decimal("1000.00"))
    client = api_client(manager)
    client.patch(f"/api/contracts/{contract.id}/", {"arr": "1000.00"}, format="json")
    response = client.patch(f"/api/contracts/{contract.id}/", {"status": "churned"}, format="json")
    assert response.status_code == 200
    contract.account.refresh_from_db()
    assert contract.account.arr == Decimal("0")


def test_contract_cannot_move_to_another_account(manager):
    contract = ContractFactory()
    other = AccountFactory()
    response = api_client(manager).patch(
        f"/api/contracts/{contract.id}/", {"account": other.id}, format="json"
    )
    assert response.status_code == 400 and "account" in response.json()


def test_contract_list_filters(csm):
    a = ContractFactory(status="active", end_date=date(2026, 6, 1))
    ContractFactory(status="churned")
    client = api_client(csm)
    rows = client.get("/api/contracts/?status=active").json()["results"]
    assert [r["id"] for r in rows] == [a.id]
    rows = client.get(f"/api/contracts/?account={a.account_id}").json()["results"]
    assert [r["id"] for r in rows] == [a.id]
    assert client.get("/api/contracts/?account=abc").status_code == 400
    assert client.get(f"/api/contracts/{a.id}/").json()["account"] == a.account_id


def test_assignment_closes_previous_owner(manager, csm, other_csm):
    account = AccountFactory()
    client = api_client(manager)
    first = client.post(
        "/api/assignments/", {"account": account.id, "user": "csm", "role": "owner"}, format="json"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["user"] == "csm"
    second = client.post(
        "/api/assignments/", {"account": account.id, "user": "other_csm"}, format="json"
    )
    assert second.status_code == 201
    account.refresh_from_db()
    assert account.owner == other_csm
    history = CSMAssignment.objects.filter(account=account).order_by("id")
    assert [(h.user.username, h.ended_at is None) for h in history] == [
        ("csm", False),
        ("other_csm", True),
    ]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"user": "nobody", "role": "owner"}, "user"),
        ({"user": "csm", "role": "boss"}, "role"),
        ({"user": "csm", "role": "owner", "account": 0}, "account"),
    ],
)
def test_assignment_errors(manager, csm, payload, field):
    account = AccountFactory()
    response = api_client(manager).post(
        "/api/assignments/", {"account": account.id, **payload}, format="json"
    )
    assert response.status_code == 400 and field in response.json()


def test_attributes_list_and_create(manager, csm):
    client = api_client(manager)
    response = client.post(
        "/api/attributes/",
        {"key": "tier", "label": "Tier", "type": "choice", "choices": ["gold", "silver"]},
        format="json",
    )
    assert response.status_code == 201
    assert AttributeDefinition.objects.get(key="tier").choices == ["gold", "silver"]
    listed = api_client(csm).get("/api/attributes/").json()["results"]
    assert [a["key"] for a in listed] == ["tier"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"key": "x", "label": "X", "type": "choice"}, "choices"),
        ({"key": "bad key", "label": "X", "type": "text"}, "key"),
        ({"key": "x", "label": "X", "type": "colour"}, "type"),
    ],
)
def test_attribute_errors(manager, payload, field):
    response = api_client(manager).post("/api/attributes/", payload, format="json")
    assert response.status_code == 400 and field in response.json()


def test_duplicate_attribute_key(manager):
    client = api_client(manager)
    client.post("/api/attributes/", {"key": "x", "label": "X", "type": "text"}, format="json")
    again = client.post(
        "/api/attributes/", {"key": "x", "label": "Y", "type": "text"}, format="json"
    )
    assert again.status_code == 400 and "key" in again.json()
