from datetime import date

import pytest

from customers import selectors, services

from .factories import AccountFactory, CSMFactory

pytestmark = pytest.mark.django_db


def test_csm_book_holds_the_accounts_a_csm_currently_owns(django_assert_num_queries):
    # Given alice owns two accounts, bob one, and alice handed a third over to bob
    alice, bob = CSMFactory(username="alice"), CSMFactory(username="bob")
    mine = [AccountFactory(name="A1"), AccountFactory(name="A2")]
    theirs = AccountFactory(name="B1")
    handed_over = AccountFactory(name="H1")
    for account in mine:
        services.csm_assign(account=account, user=alice)
    services.csm_assign(account=theirs, user=bob)
    services.csm_assign(account=handed_over, user=alice)
    services.csm_assign(account=handed_over, user=bob)
    # When alice's book is read
    with django_assert_num_queries(1):
        book = list(selectors.csm_book(user=alice).order_by("name"))
        owners = {a.owner.username for a in book}  # select_related: no extra query
    # Then it holds only what she owns now
    assert [a.name for a in book] == ["A1", "A2"]
    assert owners == {"alice"}
    assert sorted(a.name for a in selectors.csm_book(user=bob)) == ["B1", "H1"]


def test_account_get_prefetches_contracts_and_history(django_assert_num_queries):
    account = AccountFactory()
    services.contract_create(
        account=account, start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), arr=10
    )
    services.csm_assign(account=account, user=CSMFactory())
    with django_assert_num_queries(3):
        loaded = selectors.account_get(account_id=account.pk)
        assert len(loaded.contracts.all()) == 1
        assert [a.user.username for a in loaded.assignments.all()]


def test_current_owner_assignment():
    account = AccountFactory()
    assert selectors.current_owner_assignment(account=account) is None
    alice = CSMFactory(username="alice")
    services.csm_assign(account=account, user=alice)
    assert selectors.current_owner_assignment(account=account).user == alice
