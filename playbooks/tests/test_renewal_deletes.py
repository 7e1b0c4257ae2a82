"""A renewal build and the delete of an account or a user at the same time: the delete
waits for the build, then takes the build's entries and tasks with it (or nulls their
owner), so neither side fails on the tasks' foreign keys (PostgreSQL: two connections)."""

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from customers import services as customer_services
from customers.models import Account
from customers.tests.factories import AccountFactory, ContractFactory, UserFactory
from playbooks import services
from playbooks.models import RenewalQueueBuild, RenewalQueueEntry, RenewalWindow, Task
from tests.concurrency import run_while_held

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="two connections at once need PostgreSQL"
    ),
]

# The statement of a build that inserts the entries and their tasks.
BUILD_INSERTS = "new_tasks"


@pytest.fixture
def world(settings):
    """Two owned accounts, each with a contract 50 days from its end (inside T-120 and
    T-90). Transactional tests start without the default windows of the data migration."""
    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    today = settings.CS_TODAY = date(2026, 11, 22)
    owner, other_owner = UserFactory(username="owner"), UserFactory(username="other")
    accounts = {"doomed": AccountFactory(owner=owner), "kept": AccountFactory(owner=other_owner)}
    for account in accounts.values():
        ContractFactory(
            account=account,
            start_date=today - timedelta(days=300),
            end_date=today + timedelta(days=50),
        )
    return {"today": today, "owner": owner, "other_owner": other_owner, **accounts}


def build(today: date):  # noqa: ANN201 (a thread's target)
    return lambda: services.renewal_queue_rebuild(today=today, full=True)


def test_an_account_deleted_during_a_build_takes_the_builds_tasks_with_it(world):
    doomed_id = world["doomed"].pk

    # When the account is deleted while a build that just created its tasks is still open
    results = run_while_held(
        holder=build(world["today"]),
        hold_after=BUILD_INSERTS,
        other=lambda: customer_services.account_delete(account=Account.objects.get(pk=doomed_id)),
    )

    # Then both succeed: the delete waited for the build to commit, then deleted the
    # account with the entries and tasks the build had made for it
    assert results["errors"] == []
    assert results["other_seconds"] >= 0.5
    assert RenewalQueueBuild.objects.count() == 1
    assert not Account.objects.filter(pk=doomed_id).exists()
    assert not Task.objects.filter(account_id=doomed_id).exists()
    assert not RenewalQueueEntry.objects.filter(account_id=doomed_id).exists()
    assert Task.objects.filter(account=world["kept"]).count() == 1


def test_a_user_deleted_during_a_build_leaves_the_builds_tasks_unassigned(world):
    owner_id = world["owner"].pk

    # When the owner CSM is deleted while a build that just assigned them tasks is open
    results = run_while_held(
        holder=build(world["today"]),
        hold_after=BUILD_INSERTS,
        other=lambda: get_user_model().objects.get(pk=owner_id).delete(),
    )

    # Then both succeed: the delete waited for the build, then unassigned its tasks and
    # entries (the account keeps its tasks, without an owner)
    assert results["errors"] == []
    assert results["other_seconds"] >= 0.5
    doomed_tasks = Task.objects.filter(account=world["doomed"])
    assert doomed_tasks.count() == 1
    assert not doomed_tasks.filter(assignee__isnull=False).exists()
    assert not RenewalQueueEntry.objects.filter(csm_id=owner_id).exists()
    assert Account.objects.get(pk=world["doomed"].pk).owner_id is None
    kept_tasks = Task.objects.filter(account=world["kept"])
    assert {task.assignee_id for task in kept_tasks} == {world["other_owner"].pk}
