"""customers.accounts_rederive: in process, and through the real broker to a real worker."""

from datetime import date
from decimal import Decimal

import pytest

from conftest import WORKER_LOG, wait_for
from customers.models import Account
from customers.tasks import accounts_rederive_task

from .factories import AccountFactory, ContractFactory, CSMAssignmentFactory


def drifted_account() -> Account:
    """An account whose derived columns a raw write left stale."""
    account = AccountFactory(arr=Decimal("0"), renewal_date=None)
    ContractFactory(account=account, arr=Decimal("12000.00"), end_date=date(2026, 12, 31))
    CSMAssignmentFactory(account=account)
    return account


@pytest.mark.django_db
def test_the_task_repairs_the_given_accounts_and_is_idempotent():
    account, other = drifted_account(), drifted_account()
    assert accounts_rederive_task(account_ids=[account.pk]) == 1
    account.refresh_from_db()
    assert (account.arr, account.renewal_date) == (Decimal("12000.00"), date(2026, 12, 31))
    assert account.owner is not None
    assert Account.objects.get(pk=other.pk).arr == Decimal("0")  # not asked for
    assert accounts_rederive_task(account_ids=[account.pk]) == 0


@pytest.mark.django_db
def test_the_task_without_ids_sweeps_every_account():
    accounts = [drifted_account() for _ in range(3)]
    assert accounts_rederive_task() == 3
    assert all(Account.objects.get(pk=a.pk).arr == Decimal("12000.00") for a in accounts)


@pytest.mark.redis
def test_a_task_sent_through_redis_runs_in_a_worker_process(celery_worker_process):
    # Given a committed account with stale derived columns
    account = drifted_account()
    # When the task is sent through the real broker (after commit; autocommit here)
    accounts_rederive_task.delay_on_commit(account_ids=[account.pk])
    # Then the worker process repairs it in the database
    repaired = wait_for(
        lambda: Account.objects.filter(pk=account.pk, arr=Decimal("12000.00")).exists(),
        timeout=30,
    )
    assert repaired, WORKER_LOG.read_text()[-2000:]
    assert Account.objects.get(pk=account.pk).renewal_date == date(2026, 12, 31)
