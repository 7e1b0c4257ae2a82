"""Database constraints of the customer domain: they hold even for writes that skip the
services (raw ORM writes, bulk loads)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from customers import services
from customers.models import Account, AssignmentRole, Contract, CSMAssignment

from .factories import AccountFactory, ContractFactory, CSMAssignmentFactory, CSMFactory

pytestmark = pytest.mark.django_db


def test_second_current_owner_is_refused_by_the_database():
    # Given an account with a current owner
    assignment = CSMAssignmentFactory()
    # When a second current owner row is inserted directly
    # Then the database refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        CSMAssignment.objects.create(
            account=assignment.account,
            user=CSMFactory(),
            role=AssignmentRole.OWNER,
            started_at=datetime(2026, 2, 1, tzinfo=UTC),
        )
    assert CSMAssignment.objects.filter(account=assignment.account).count() == 1


def test_ended_owner_rows_do_not_count_as_current():
    # Given an account whose first owner assignment has ended
    first = CSMAssignmentFactory(ended_at=datetime(2026, 3, 1, tzinfo=UTC))
    # When a new current owner is inserted
    CSMAssignment.objects.create(
        account=first.account,
        user=CSMFactory(),
        role=AssignmentRole.OWNER,
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    # Then both rows exist: history is kept
    assert CSMAssignment.objects.filter(account=first.account).count() == 2


def test_second_current_owner_fails_model_validation_with_a_clear_message():
    assignment = CSMAssignmentFactory()
    duplicate = CSMAssignment(
        account=assignment.account,
        user=CSMFactory(),
        role=AssignmentRole.OWNER,
        started_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "already has a current owner" in str(error.value)


def test_contract_ending_before_it_starts_is_refused_by_the_service():
    account = AccountFactory()
    with pytest.raises(ValidationError) as error:
        services.contract_create(
            account=account, start_date=date(2026, 5, 1), end_date=date(2026, 4, 30), arr=100
        )
    assert error.value.message_dict["end_date"] == [
        "The end date must be on or after the start date (2026-05-01)."
    ]
    assert not Contract.objects.exists()


def test_contract_ending_before_it_starts_is_refused_by_the_database():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.create(
            account=account,
            start_date=date(2026, 5, 1),
            end_date=date(2026, 4, 30),
            arr=Decimal("100"),
        )
    assert not Contract.objects.exists()


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Account, "cost_to_serve"),
        (Account, "acquisition_cost"),
        (Account, "arr"),
        (Contract, "arr"),
    ],
)
def test_negative_money_is_refused_by_the_database(model, field):
    # Given a valid row
    row = AccountFactory() if model is Account else ContractFactory()
    # When a negative amount is written directly
    # Then the database refuses it and the stored value is unchanged
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{field: Decimal("-1.00")})
    assert getattr(model.objects.get(pk=row.pk), field) != Decimal("-1.00")


def test_negative_money_is_refused_by_the_services_naming_the_field():
    account = AccountFactory()
    with pytest.raises(ValidationError) as error:
        services.account_update(account=account, data={"cost_to_serve": Decimal("-5")})
    assert "cost_to_serve" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.contract_create(
            account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=-1
        )
    assert "arr" in error.value.message_dict


def test_external_id_is_unique():
    AccountFactory(external_id="crm-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(name="Copy", external_id="crm-1")


def test_only_name_and_external_id_are_required():
    account = services.account_create(name="Minimal", external_id="min-1")
    account.refresh_from_db()
    assert account.arr == Decimal("0.00")
    assert account.renewal_date is None
    assert account.active_users == 0 and account.open_tickets == 0
    assert account.has_champion is False and account.plan is None


def test_health_score_is_not_writable_through_the_services_and_stays_in_range():
    # health_score is the computed score (the health app writes it set-based)
    with pytest.raises(ValidationError) as error:
        services.account_create(name="X", external_id="x-1", health_score=50)
    assert error.value.message_dict["health_score"] == ["Unknown or read-only field."]
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=AccountFactory().pk).update(health_score=101)


def test_mrr_and_seat_utilization():
    account = AccountFactory.build(arr=Decimal("1200.00"), active_users=30, licensed_seats=40)
    assert account.mrr == Decimal("100.00")
    assert account.seat_utilization == Decimal("0.75")
    assert AccountFactory.build(licensed_seats=None).seat_utilization is None


def test_external_id_has_one_index_the_unique_one():
    # Given the migrated account table
    # When its indexes over external_id are listed
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Account._meta.db_table)
    on_external_id = {
        name: spec
        for name, spec in constraints.items()
        if (spec["index"] or spec["unique"]) and spec["columns"] == ["external_id"]
    }
    # Then only the unique one is left: every account write that is not a HOT update
    # inserts into each index (migration 0013 dropped PostgreSQL's LIKE-prefix twin).
    assert [spec["unique"] for spec in on_external_id.values()] == [True]
