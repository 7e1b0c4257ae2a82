"""POST /api/accounts/bulk/: set-based upsert by external_id."""

import json
import math
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cs_platform.api.parsers import BULK_MAX_BODY_BYTES
from customers import services
from customers.bulk_upsert import MAX_BULK_ROWS, accounts_bulk_upsert
from customers.models import Account
from customers.selectors import account_ids_pending_evaluation
from customers.signals import accounts_changed
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

URL = "/api/accounts/bulk/"


@pytest.fixture
def changed_ids():
    """The account ids announced by accounts_changed during the test."""
    seen: list[int] = []

    def receiver(sender, account_ids, **kwargs):
        seen.extend(account_ids)

    accounts_changed.connect(receiver, dispatch_uid="test-bulk-changed")
    yield seen
    accounts_changed.disconnect(dispatch_uid="test-bulk-changed")


def test_creates_new_accounts(manager, changed_ids, django_capture_on_commit_callbacks):
    rows = [{"external_id": f"crm-{n}", "name": f"Crm {n}", "plan": "pro"} for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(manager).post(URL, {"accounts": rows}, format="json")
    assert response.status_code == 200
    assert response.json() == {"created": 3, "updated": 0, "errors": []}
    accounts = Account.objects.order_by("external_id")
    assert [a.name for a in accounts] == ["Crm 0", "Crm 1", "Crm 2"]
    assert all(a.plan == "pro" for a in accounts)
    assert list(account_ids_pending_evaluation()) == sorted(a.id for a in accounts)
    assert sorted(changed_ids) == sorted(a.id for a in accounts)


def test_updates_only_the_fields_a_row_carries(manager):
    # Given an existing account with several fields set
    account = AccountFactory(
        external_id="crm-1", name="Old", plan="pro", region="EMEA", employees=50
    )
    # When a row carries only the plan, and another row carries the name and employees
    response = api_client(manager).post(
        URL,
        {
            "accounts": [
                {"external_id": "crm-1", "plan": "enterprise"},
                {"external_id": "crm-2", "name": "New", "employees": 10},
            ]
        },
        format="json",
    )
    # Then the existing account has the new plan and keeps everything else
    assert response.json() == {"created": 1, "updated": 1, "errors": []}
    account.refresh_from_db()
    assert (account.name, account.plan, account.region, account.employees) == (
        "Old",
        "enterprise",
        "EMEA",
        50,
    )
    assert account.pk in account_ids_pending_evaluation()
    # And the new account got defaults for what its row did not carry
    new = Account.objects.get(external_id="crm-2")
    assert (new.employees, new.plan, new.active_users, new.has_champion) == (10, None, 0, False)


def test_upsert_keeps_derived_columns(manager, csm):
    account = AccountFactory(external_id="crm-1")
    services.csm_assign(account=account, user=csm)
    Account.objects.filter(pk=account.pk).update(arr=Decimal("500.00"))
    api_client(manager).post(
        URL, {"accounts": [{"external_id": "crm-1", "name": "Renamed"}]}, format="json"
    )
    account.refresh_from_db()
    assert (account.name, account.arr, account.owner_id) == ("Renamed", Decimal("500.00"), csm.id)


def test_mixed_valid_and_invalid_rows(manager):
    AccountFactory(external_id="exists")
    rows = [
        {"external_id": "ok-1", "name": "Fine"},
        {"external_id": "bad-1", "name": "Bad", "employees": -3, "lifecycle_stage": "gold"},
        {"external_id": "bad-2"},  # new account without a name
        {"external_id": "exists", "region": "MARS"},
        "not an object",
        {"name": "No id"},
        {"external_id": "ok-1", "name": "Again"},
        {"external_id": "ok-2", "name": "Typo", "plna": "pro"},
        {"external_id": "exists", "employees": 12, "arr": "1", "id": 5, "csm": "x"},
    ]
    response = api_client(manager).post(URL, {"accounts": rows}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 1)
    errors = {e["index"]: e for e in body["errors"]}
    assert set(errors) == {1, 2, 3, 4, 5, 6, 7}
    assert set(errors[1]["errors"]) == {"employees", "lifecycle_stage"}
    assert errors[1]["external_id"] == "bad-1"
    assert errors[2]["errors"] == {"name": ["This field is required."]}
    assert set(errors[3]["errors"]) == {"region"}
    assert errors[4]["external_id"] is None and "non_field_errors" in errors[4]["errors"]
    assert errors[5]["errors"] == {"external_id": ["This field is required."]}
    assert "Duplicate external_id" in errors[6]["errors"]["external_id"][0]
    assert errors[7]["errors"] == {"plna": ["Unknown or read-only field."]}
    assert set(Account.objects.values_list("external_id", flat=True)) == {"exists", "ok-1"}
    assert Account.objects.get(external_id="exists").employees == 12


def test_atomic_rejects_the_whole_request_on_any_invalid_row(manager):
    rows = [{"external_id": "ok", "name": "Fine"}, {"external_id": "bad", "employees": -1}]
    response = api_client(manager).post(URL, {"accounts": rows, "atomic": True}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["created"], body["updated"]) == (0, 0)
    assert [e["index"] for e in body["errors"]] == [1]
    assert not Account.objects.exists()


def test_atomic_with_only_valid_rows_writes(manager):
    response = api_client(manager).post(
        URL, {"accounts": [{"external_id": "a", "name": "A"}], "atomic": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["created"] == 1


def test_more_than_the_limit_is_refused(manager):
    rows = [{"external_id": f"x{n}", "name": "X"} for n in range(MAX_BULK_ROWS + 1)]
    response = api_client(manager).post(URL, {"accounts": rows}, format="json")
    assert response.status_code == 400
    assert response.json() == {"accounts": [f"At most {MAX_BULK_ROWS} accounts per request."]}
    assert not Account.objects.exists()


def test_a_body_above_djangos_upload_bound_is_accepted(manager, settings):
    # Given 12,000 rows in a body well above Django's 2.5 MB bound for ordinary requests
    # (and above the 10,000 rows the endpoint took before)
    rows = [
        {"external_id": f"big-{n:05d}", "name": f"Account {n}", "domain": f"{'d' * 180}.com"}
        for n in range(12_000)
    ]
    body = json.dumps({"accounts": rows})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    # When it is posted, then every row is written
    response = api_client(manager).post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["created"] == 12_000 and Account.objects.count() == 12_000


def test_a_body_above_the_bulk_bound_is_a_413(manager):
    # Given a body one byte over 64 MiB (padding inside a valid JSON document)
    padding = BULK_MAX_BODY_BYTES + 1 - len('{"accounts": []}')
    body = b'{"accounts": [' + b" " * padding + b"]}"
    # When it is posted, then it is refused before it is parsed, saying why
    response = api_client(manager).post(URL, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 64 MiB, the most this endpoint accepts."
    }
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "accounts"),
        ({"accounts": {"external_id": "x"}}, "accounts"),
        ({"accounts": [], "atomic": "maybe"}, "atomic"),
    ],
)
def test_malformed_requests(manager, body, field):
    response = api_client(manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_csm_may_not_bulk_upsert(csm):
    response = api_client(csm).post(URL, {"accounts": []}, format="json")
    assert response.status_code == 403


def test_traits_checked_against_definitions(manager):
    services.attribute_definition_create(
        key="tier", label="Tier", type="choice", choices=["gold", "silver"]
    )
    rows = [
        {"external_id": "a", "name": "A", "traits": {"tier": "gold"}},
        {"external_id": "b", "name": "B", "traits": {"tier": "bronze"}},
        {"external_id": "c", "name": "C", "traits": {"undeclared": 1}},
    ]
    body = api_client(manager).post(URL, {"accounts": rows}, format="json").json()
    assert body["created"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert Account.objects.get(external_id="a").traits == {"tier": "gold"}


def test_set_based_statement_count(manager):
    # Given 2,500 rows of two field shapes, half of them updates
    AccountFactory.create_batch(5, plan="free")
    existing = [{"external_id": f"e{n}", "name": f"E{n}"} for n in range(1250)]
    accounts_bulk_upsert(rows=existing)
    rows = [{"external_id": f"e{n}", "plan": "pro"} for n in range(1250)] + [
        {"external_id": f"n{n}", "name": f"N{n}", "plan": "pro"} for n in range(1250)
    ]
    # When they are upserted
    with CaptureQueriesContext(connection) as queries:
        result = accounts_bulk_upsert(rows=rows)
    # Then a handful of statements did it, not one per row. One INSERT carries as many
    # rows as the backend binds parameters for (SQLite: 999, so 35 accounts a statement),
    # so the bound counts full INSERTs: 1 on PostgreSQL, 72 on SQLite, 2,500 if per row.
    assert (result.created, result.updated, result.errors) == (1250, 1250, [])
    rows_per_insert = connection.ops.bulk_batch_size(Account._meta.concrete_fields, rows)
    full_inserts = math.ceil(len(rows) / rows_per_insert)
    assert len(queries) <= 16 + full_inserts
    assert Account.objects.filter(plan="pro").count() == 2500


def test_dry_run_writes_nothing(db):
    result = accounts_bulk_upsert(rows=[{"external_id": "a", "name": "A"}], dry_run=True)
    assert (result.created, result.written) == (1, False)
    assert not Account.objects.exists()
