"""One open task per renewal (DESIGN 4): the tightest window's task only, the wider
window's open task closed (with a history note) when the contract moves into a tighter
window, and one "overdue renewal" task."""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps

from customers import services as customer_services
from customers.tests.factories import AccountFactory, ContractFactory, UserFactory
from playbooks import services
from playbooks.models import Task, TaskSource, TaskStatus, TaskStatusChange

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_windows")]


def ending(today, days, **extra):
    return ContractFactory(
        start_date=today - timedelta(days=400), end_date=today + timedelta(days=days), **extra
    )


def renewal_tasks(contract) -> list[tuple[int | None, str]]:
    """(window days or None for the overdue task, status) of the contract's renewal tasks."""
    return sorted(
        Task.objects.filter(contract=contract, source=TaskSource.RENEWAL).values_list(
            "window__days", "status"
        ),
        key=lambda row: (row[0] is None, row[0] or 0),
    )


def test_a_contract_first_seen_at_80_days_gets_only_the_t90_task(today):
    # Given a contract first seen 80 days before its end (inside T-120 and T-90)
    contract = ending(today, 80)

    # When the queue is built, twice
    services.renewal_queue_rebuild(today=today)
    services.renewal_queue_rebuild(today=today, full=True)

    # Then it has one task, for its tightest window
    assert renewal_tasks(contract) == [(90, "open")]


@pytest.mark.parametrize("wider_status", [TaskStatus.OPEN, TaskStatus.SNOOZED])
def test_entering_t90_closes_the_open_t120_task_with_a_note(today, wider_status):
    # Given a contract at 91 days with its open (or snoozed) T-120 task
    alice = UserFactory(username="alice")
    contract = ending(today, 91, account=AccountFactory(name="ACME", owner=alice))
    services.renewal_queue_rebuild(today=today)
    t120 = Task.objects.get(contract=contract)
    if wider_status == TaskStatus.SNOOZED:
        services.task_snooze(task=t120, until=today + timedelta(days=30))

    # When the next day's build runs (the contract enters T-90)
    build = services.renewal_queue_rebuild(today=today + timedelta(days=1))

    # Then the T-90 task is created and the T-120 task is closed, its history saying why
    assert renewal_tasks(contract) == [(90, "open"), (120, "cancelled")]
    assert (build.tasks_created, build.tasks_closed) == (1, 1)
    change = TaskStatusChange.objects.filter(task=t120).latest("id")
    assert (change.from_status, change.to_status, change.by) == (wider_status, "cancelled", None)
    assert change.note == "Closed: the renewal moved into T-90, which has its own task."
    t120.refresh_from_db()
    assert t120.snoozed_until is None


def test_an_overdue_renewal_gets_one_overdue_task(today):
    # Given a contract with its open T-90 task, ending today
    alice = UserFactory(username="alice")
    account = AccountFactory(name="ACME", owner=alice)
    contract = ending(today, 0, account=account, arr=Decimal("120000.00"))
    services.renewal_queue_rebuild(today=today)
    assert renewal_tasks(contract) == [(90, "open")]

    # When it becomes overdue, and the queue is built again (delta, then full)
    tomorrow = today + timedelta(days=1)
    services.renewal_queue_rebuild(today=tomorrow)
    services.renewal_queue_rebuild(today=tomorrow, full=True)
    services.renewal_queue_rebuild(today=tomorrow + timedelta(days=3))

    # Then it has one overdue renewal task, due the day it became overdue, and the T-90
    # task is closed
    assert renewal_tasks(contract) == [(90, "cancelled"), (None, "open")]
    overdue = Task.objects.get(contract=contract, window__isnull=True)
    assert overdue.title == f"Overdue renewal: ACME, ended {contract.end_date}, $120,000 ARR"
    assert "1 days overdue" in overdue.description
    assert (overdue.assignee, overdue.due_date) == (alice, tomorrow)
    note = TaskStatusChange.objects.filter(task__window__days=90).latest("id").note
    assert note == "Closed: the renewal moved into the overdue stage, which has its own task."


def test_a_contract_already_overdue_at_first_sight_gets_its_task(today):
    contract = ending(today, -30)
    services.renewal_queue_rebuild(today=today)
    assert renewal_tasks(contract) == [(None, "open")]


def test_a_renewal_moved_back_out_keeps_its_one_open_task(today):
    # Given a contract at 60 days with its open T-90 task
    contract = ending(today, 60)
    services.renewal_queue_rebuild(today=today)

    # When its end date moves to 100 days (inside T-120 only) and the queue is rebuilt
    customer_services.contract_update(
        contract=contract, data={"end_date": today + timedelta(days=100)}
    )
    services.renewal_queue_rebuild(today=today)
    services.renewal_queue_rebuild(today=today, full=True)

    # Then no second task is made: the T-90 task stays the renewal's one open task
    assert renewal_tasks(contract) == [(90, "open")]


def test_the_migration_closes_the_wider_of_two_open_tasks(today):
    # Given contracts with both windows' tasks open, as builds before this change made them
    doubled = ending(today, 60)
    single = ending(today, 100)
    services.renewal_queue_rebuild(today=today)
    services.task_create(
        account=doubled.account,
        title="Renewal prep (T-120)",
        source=TaskSource.RENEWAL,
        contract=doubled,
        window=services_window(120),
    )

    # When the data migration runs
    migration = importlib.import_module("playbooks.migrations.0011_one_open_task_per_renewal")
    migration.close_wider_open_tasks(apps, None)

    # Then the wider task is cancelled with a note, and single tasks are untouched
    assert renewal_tasks(doubled) == [(90, "open"), (120, "cancelled")]
    assert renewal_tasks(single) == [(120, "open")]
    assert TaskStatusChange.objects.get(task__contract=doubled).note == migration.NOTE


def services_window(days):
    from playbooks.models import RenewalWindow

    return RenewalWindow.objects.get(days=days)
