"""Writes of the customer domain: assignment history, derived columns, change events."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from customers import services
from customers.models import (
    Account,
    AssignmentRole,
    ContractStatus,
    CSMAssignment,
    PendingEvaluation,
)
from customers.selectors import account_ids_pending_evaluation
from customers.signals import accounts_changed

from .factories import AccountFactory, CSMFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    """Every ``accounts_changed`` the test causes, as a list of id lists."""
    calls: list[list[int]] = []

    def receiver(sender, account_ids, **kwargs):
        calls.append(account_ids)

    accounts_changed.connect(receiver, dispatch_uid="test-received")
    yield calls
    accounts_changed.disconnect(dispatch_uid="test-received")


def _account(**fields) -> Account:
    return services.account_create(name=fields.pop("name", "Acme"), external_id="acme", **fields)


def _reloaded(account: Account) -> Account:
    return Account.objects.get(pk=account.pk)


# --- CSM assignment -------------------------------------------------------------------------


def test_reassigning_the_owner_closes_the_previous_assignment_and_keeps_it():
    # Given an account owned by alice since January
    account = _account()
    alice, bob = CSMFactory(username="alice"), CSMFactory(username="bob")
    january, march = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    first = services.csm_assign(account=account, user=alice, at=january)
    # When bob becomes the owner in March
    second = services.csm_assign(account=account, user=bob, at=march)
    # Then alice's assignment is closed at that time and kept, bob's is current
    first.refresh_from_db()
    assert first.ended_at == march and first.user == alice
    assert second.ended_at is None and second.started_at == march
    history = list(
        CSMAssignment.objects.filter(account=account).values_list("user__username", "ended_at")
    )
    assert history == [("bob", None), ("alice", march)]
    assert _reloaded(account).owner == bob


def test_assigning_the_current_owner_again_changes_nothing():
    account = _account()
    alice = CSMFactory(username="alice")
    first = services.csm_assign(account=account, user=alice)
    again = services.csm_assign(account=account, user=alice)
    assert again.pk == first.pk
    assert CSMAssignment.objects.filter(account=account).count() == 1


def test_secondary_roles_do_not_change_the_owner():
    account = _account()
    alice, bob = CSMFactory(username="alice"), CSMFactory(username="bob")
    services.csm_assign(account=account, user=alice)
    services.csm_assign(account=account, user=bob, role=AssignmentRole.SECONDARY)
    assert _reloaded(account).owner == alice
    assert CSMAssignment.objects.filter(account=account, ended_at__isnull=True).count() == 2


def test_unassigning_the_owner_clears_the_account_owner():
    account = _account()
    services.csm_assign(account=account, user=CSMFactory(username="alice"))
    assert services.csm_unassign(account=account) == 1
    assert _reloaded(account).owner is None
    assert CSMAssignment.objects.get(account=account).ended_at is not None


def test_an_unknown_role_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as error:
        services.csm_assign(account=_account(), user=CSMFactory(), role="boss")
    assert "role" in error.value.message_dict


# --- derived arr / renewal_date ------------------------------------------------------------


def test_adding_contracts_sums_active_arr_and_takes_the_earliest_end():
    # Given an account with no contracts
    account = _account()
    assert (_reloaded(account).arr, _reloaded(account).renewal_date) == (Decimal("0.00"), None)
    # When two active contracts are added
    services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    services.contract_create(
        account=account,
        start_date=date(2026, 3, 1),
        end_date=date(2026, 9, 30),
        arr=Decimal("2500.50"),
    )
    # Then arr is their sum and renewal_date the earliest end
    account = _reloaded(account)
    assert account.arr == Decimal("12500.50")
    assert account.renewal_date == date(2026, 9, 30)


def test_renewing_moves_the_renewal_date_and_takes_the_new_arr():
    # Given an account with one active contract
    account = _account()
    contract = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    # When it is renewed for another year at a higher price
    successor = services.contract_renew(
        contract=contract, end_date=date(2027, 12, 31), arr=Decimal("12000")
    )
    # Then the old contract is renewed, the new one active, the account follows the new one
    contract.refresh_from_db()
    assert contract.status == ContractStatus.RENEWED
    assert successor.status == ContractStatus.ACTIVE
    assert successor.start_date == date(2027, 1, 1)
    account = _reloaded(account)
    assert (account.arr, account.renewal_date) == (Decimal("12000.00"), date(2027, 12, 31))


@pytest.mark.parametrize("status", [ContractStatus.CHURNED, ContractStatus.CANCELLED])
def test_churned_or_cancelled_contracts_stop_counting(status):
    # Given an account with two active contracts
    account = _account()
    main = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2027, 6, 30), arr=3000
    )
    # When the earlier-ending one churns (or is cancelled)
    services.contract_update(contract=main, data={"status": status})
    # Then only the other counts
    account = _reloaded(account)
    assert (account.arr, account.renewal_date) == (Decimal("3000.00"), date(2027, 6, 30))


def test_the_last_contract_churning_leaves_zero_arr_and_no_renewal_date():
    account = _account()
    contract = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    services.contract_update(contract=contract, data={"status": ContractStatus.CHURNED})
    account = _reloaded(account)
    assert (account.arr, account.renewal_date) == (Decimal("0.00"), None)


def test_editing_a_contract_end_date_moves_the_renewal_date():
    account = _account()
    contract = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    services.contract_update(contract=contract, data={"end_date": date(2027, 3, 31)})
    assert _reloaded(account).renewal_date == date(2027, 3, 31)


def test_a_bad_contract_change_writes_nothing():
    # Given a contract
    account = _account()
    contract = services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10000
    )
    # When an update would make it end before it starts
    with pytest.raises(ValidationError) as error:
        services.contract_update(contract=contract, data={"end_date": date(2025, 1, 1)})
    # Then the error names the field and the stored rows are unchanged
    assert "end_date" in error.value.message_dict
    contract.refresh_from_db()
    assert contract.end_date == date(2026, 12, 31)
    assert _reloaded(account).renewal_date == date(2026, 12, 31)


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError) as error:
        services.account_create(name="A", external_id="a", arr=5)
    assert "arr" in error.value.message_dict


def test_accounts_rederive_repairs_only_drifted_accounts():
    # Given two accounts with a contract each, one of them drifted by a raw write
    good, bad = _account(), services.account_create(name="Beta", external_id="beta")
    for account in (good, bad):
        services.contract_create(
            account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=500
        )
    Account.objects.filter(pk=bad.pk).update(arr=0, renewal_date=None)
    # When re-deriving (first as a dry run)
    assert services.accounts_rederive(dry_run=True) == [bad.pk]
    assert _reloaded(bad).arr == Decimal("0.00")
    # Then only the drifted one is reported and repaired
    assert services.accounts_rederive() == [bad.pk]
    assert _reloaded(bad).arr == Decimal("500.00")
    assert services.accounts_rederive() == []


def test_accounts_rederive_owner_follows_the_current_owner_assignment():
    account = _account()
    alice = CSMFactory(username="alice")
    services.csm_assign(account=account, user=alice)
    Account.objects.filter(pk=account.pk).update(owner=None)
    assert services.accounts_rederive_owner(dry_run=True) == [account.pk]
    assert services.accounts_rederive_owner() == [account.pk]
    assert _reloaded(account).owner == alice
    assert services.accounts_rederive_owner() == []


# --- change events ---------------------------------------------------------------------------


def test_accounts_changed_is_sent_on_commit_with_the_account_ids(
    received, django_capture_on_commit_callbacks
):
    # Given an account, not marked for segment evaluation
    account = _account()
    PendingEvaluation.objects.filter(account=account).delete()
    # When a contract is added and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        services.contract_create(
            account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=1
        )
        assert received == []  # nothing before the commit
    # Then the signal carried the account id and the account is marked for re-evaluation
    assert received == [[account.pk]]
    assert account.pk in account_ids_pending_evaluation()


def test_accounts_changed_is_not_sent_when_the_transaction_rolls_back(
    received, django_capture_on_commit_callbacks
):
    account = _account()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.account_update(account=account, data={"plan": "enterprise"})
        raise RuntimeError("boom")
    assert callbacks == []
    assert received == []
    assert _reloaded(account).plan is None


@pytest.mark.parametrize(
    "write",
    [
        lambda a: services.account_update(account=a, data={"open_tickets": 4}),
        lambda a: services.contract_create(
            account=a, start_date=date(2026, 1, 1), end_date=date(2026, 2, 1), arr=1
        ),
        lambda a: services.csm_assign(account=a, user=CSMFactory()),
    ],
    ids=["account_update", "contract_create", "csm_assign"],
)
def test_writes_that_change_rule_inputs_mark_the_account_for_segment_evaluation(write):
    # Given an account not marked for segment evaluation
    account = AccountFactory()
    assert account.pk not in account_ids_pending_evaluation()
    # When a write changes a rule input, then it is marked
    write(account)
    assert list(account_ids_pending_evaluation()) == [account.pk]


def test_marking_an_account_already_marked_moves_its_mark_forward():
    # Given an account marked a while ago
    account = AccountFactory()
    services.accounts_mark_changed(account_ids=[account.pk])
    PendingEvaluation.objects.filter(account=account).update(
        marked_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    # When it is marked again (twice in one call, with another account)
    other = AccountFactory()
    services.accounts_mark_changed(account_ids=[account.pk, other.pk, account.pk])
    # Then each account has one mark, and the first one is as recent as the new one
    marks = dict(PendingEvaluation.objects.values_list("account_id", "marked_at"))
    assert set(marks) == {account.pk, other.pk}
    assert marks[account.pk] == marks[other.pk] > datetime(2026, 1, 1, tzinfo=UTC)


def test_marking_leaves_out_ids_of_accounts_that_do_not_exist():
    # Given an account, and the id of one deleted meanwhile
    account = AccountFactory()
    gone = AccountFactory()
    gone_id = gone.pk
    gone.delete()
    # When both are marked, then only the existing account has a mark
    services.accounts_mark_changed(account_ids=[gone_id, account.pk])
    assert list(PendingEvaluation.objects.values_list("account_id", flat=True)) == [account.pk]


def test_deleting_an_account_deletes_its_mark(received, django_capture_on_commit_callbacks):
    # Given a marked account
    account = _account()
    account_id = account.pk
    # When it is deleted, then its mark goes with it and the deletion is announced
    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(account=account)
    assert not PendingEvaluation.objects.exists()
    assert received == [[account_id]]


def test_account_update_writes_only_the_given_fields():
    account = _account(plan="pro")
    Account.objects.filter(pk=account.pk).update(region="EMEA")  # a concurrent change
    services.account_update(account=account, data={"plan": "enterprise"})
    account = _reloaded(account)
    assert (account.plan, account.region) == ("enterprise", "EMEA")


def test_traits_are_checked_against_their_definitions():
    services.attribute_definition_create(key="nps", label="NPS", type="integer")
    account = services.account_create(name="T", external_id="t", traits={"nps": 9})
    assert account.traits == {"nps": 9}
    with pytest.raises(ValidationError) as error:
        services.account_update(account=account, data={"traits": {"nps": "high", "color": 1}})
    messages = error.value.message_dict["traits"]
    assert any(m.startswith("nps: expected an integer") for m in messages)
    assert any(m.startswith("color: no custom attribute") for m in messages)
