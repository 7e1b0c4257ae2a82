"""The accounts CSV import takes every column the accounts API knows: ``arr`` (with
``renewal_date``) sets the account's contract, ``csm`` its owner; ``id``, ``created_at``
and ``updated_at`` are refused by name; a bad value is reported and its row not
imported."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from customers.csv_import import csv_import
from customers.models import Account, Contract
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(text: str, **kwargs):
    return csv_import(kind="accounts", file=io.StringIO(text), **kwargs)


def test_arr_creates_the_contract_and_a_bad_value_is_reported(today):
    # Given four rows with an arr, one of them "abc"
    report = run(
        "external_id,name,customer_since,arr\n"
        "a-1,Alpha,2025-03-01,120000\n"
        'a-2,Beta,,"45,000.50"\n'
        "a-3,Gamma,2024-01-15,abc\n"
        "a-4,Delta,2026-12-01,9000\n"
    )

    # Then three accounts are imported with their contract, and the bad row is named
    assert (report.created, report.contracts) == (3, 3)
    assert [(e.row, e.external_id, e.field) for e in report.errors] == [(4, "a-3", "arr")]
    assert "got 'abc'" in report.errors[0].message
    assert not Account.objects.filter(external_id="a-3").exists()
    alpha = Account.objects.get(external_id="a-1")
    assert alpha.arr == Decimal("120000.00")
    contract = Contract.objects.get(account=alpha)
    # from customer_since to the first anniversary that is not past (today: 2026-11-22)
    assert (contract.start_date, contract.end_date) == (date(2025, 3, 1), date(2027, 3, 1))
    beta = Contract.objects.get(account__external_id="a-2")
    assert (beta.arr, beta.start_date) == (Decimal("45000.50"), today)
    delta = Contract.objects.get(account__external_id="a-4")
    assert delta.end_date == date(2027, 12, 1)


def test_a_second_import_updates_the_contract_and_renewal_date_sets_its_end(today):
    run("external_id,name,arr\nb-1,Bravo,1000\n")
    run("external_id,arr,renewal_date\nb-1,1500,2027-01-31\n")
    contract = Contract.objects.get(account__external_id="b-1")
    assert (contract.arr, contract.end_date) == (Decimal("1500.00"), date(2027, 1, 31))
    assert Account.objects.get(external_id="b-1").renewal_date == date(2027, 1, 31)


def test_csm_assigns_the_owner_by_username_or_email():
    jane = UserFactory(username="jane", email="jane@example.com")
    report = run("external_id,name,csm\nc-1,One,jane\nc-2,Two,JANE@example.com\nc-3,Three,nobody\n")
    assert set(Account.objects.filter(owner=jane).values_list("external_id", flat=True)) == {
        "c-1",
        "c-2",
    }
    assert [(e.row, e.field) for e in report.errors] == [(4, "csm")]


def test_read_only_columns_are_refused_by_name():
    report = run("id,external_id,name,created_at\n5,d-1,D,2026-01-01\n")
    assert {e.field: e.message for e in report.errors} == {
        "id": "read-only: rows are matched by external_id; remove this column",
        "created_at": "read-only (set when the account is created); remove this column",
    }
    assert not Account.objects.exists()


def test_renewal_date_problems_name_the_column(today):
    report = run(
        "external_id,name,customer_since,arr,renewal_date\n"
        "e-1,E,,,2027-01-01\n"
        "e-2,F,2026-06-01,10,2026-01-01\n"
        "e-3,G,,10,31/12/2027\n"
    )
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "renewal_date"),
        (3, "renewal_date"),
        (4, "renewal_date"),
    ]
    assert Account.objects.count() == 0


def test_a_dry_run_reports_contracts_and_writes_nothing():
    report = run("external_id,name,arr\nf-1,F,100\n", dry_run=True)
    assert (report.created, report.contracts, report.errors) == (1, 1, [])
    assert not Account.objects.exists() and not Contract.objects.exists()


def test_imported_contracts_reach_the_renewal_queue_by_themselves(
    today, eager_tasks, django_capture_on_commit_callbacks, settings
):
    # The delta build is debounced (a due time in the outbox); with no debounce it runs at
    # the commit, as the relay sends it once due: no "Rebuild now" needed.
    settings.RENEWAL_REBUILD_DEBOUNCE_SECONDS = 0
    from playbooks.models import RenewalQueueEntry, RenewalWindow

    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    end = today + timedelta(days=45)
    with django_capture_on_commit_callbacks(execute=True):
        run(f"external_id,name,arr,renewal_date\ng-1,G,5000,{end.isoformat()}\n")
    assert RenewalQueueEntry.objects.filter(contract__account__external_id="g-1").exists()
