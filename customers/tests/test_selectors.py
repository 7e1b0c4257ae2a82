from datetime import date

import pytest
from django.contrib.auth.models import Group

from cs_platform.roles import CSMS, MANAGERS
from customers import selectors, services

from .factories import AccountFactory, CSMFactory, UserFactory

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


def test_the_cached_people_list_follows_users_and_their_groups(django_assert_num_queries):
    # Given a CSM, a manager, a user in no role group and the list read once
    carol = CSMFactory(username="carol", first_name="Carol", last_name="King")
    boss = UserFactory(username="boss")
    boss.groups.add(Group.objects.get(name=MANAGERS))
    outsider = UserFactory(username="outsider")
    assert selectors.people() == [
        (boss.pk, "boss", "boss", False),
        (carol.pk, "carol", "Carol King", True),
    ]
    # When it is read again, then it comes from the cache
    with django_assert_num_queries(0):
        assert selectors.csm_usernames() == ["carol"]
    # When a user joins the CSMs, or a CSM is deactivated, then the next read says so
    outsider.groups.add(Group.objects.get(name=CSMS))
    assert selectors.csm_usernames() == ["carol", "outsider"]
    carol.is_active = False
    carol.save()
    assert selectors.csm_usernames() == ["outsider"]
    # And a removal from the group through the group's side too
    Group.objects.get(name=CSMS).user_set.remove(outsider)
    assert selectors.csm_usernames() == []
