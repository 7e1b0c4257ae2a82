"""Tasks: status changes with history, permissions, dedupe keys, and exactly-once renewal
tasks (database constraint, reruns, two concurrent rebuilds)."""

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, connections, transaction

from customers.tests.factories import AccountFactory, ContractFactory, UserFactory
from playbooks import selectors, services
from playbooks.models import RenewalWindow, Task, TaskSource, TaskStatus


@pytest.fixture
def acme(csm):
    return AccountFactory(name="ACME", owner=csm)


@pytest.mark.django_db
def test_status_changes_are_kept_with_who_and_when(today, csm, acme):
    # Given an open manual task on the CSM's account
    task = services.task_create(account=acme, title="Call ACME", assignee=csm, by=csm)

    # When the CSM snoozes, reopens, completes it
    services.task_snooze(task=task, until=today + timedelta(days=3), by=csm)
    assert (task.status, task.snoozed_until) == (TaskStatus.SNOOZED, today + timedelta(days=3))
    services.task_reopen(task=task, by=csm)
    services.task_complete(task=task, by=csm, note="all good")

    # Then the task is done with a completion time, and each change is recorded
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_at is not None
    history = [
        (c.from_status, c.to_status, c.by, c.note) for c in selectors.task_status_history(task=task)
    ]
    assert history == [
        ("open", "snoozed", csm, f"until {today + timedelta(days=3)}"),
        ("snoozed", "open", csm, ""),
        ("open", "done", csm, "all good"),
    ]
    # And setting the same status again records nothing
    services.task_complete(task=task, by=csm)
    assert task.status_changes.count() == 3


@pytest.mark.django_db
def test_snooze_needs_a_future_date(today, csm, acme):
    task = services.task_create(account=acme, title="x", assignee=csm)
    with pytest.raises(ValidationError) as error:
        services.task_snooze(task=task, until=today, by=csm)
    assert "snoozed_until" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.task_set_status(task=task, status="later", by=csm)
    assert "status" in error.value.message_dict
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and not task.status_changes.exists()


@pytest.mark.django_db
def test_snoozed_tasks_wake_up_on_their_day(today, csm, acme):
    task = services.task_create(account=acme, title="x", assignee=csm)
    services.task_snooze(task=task, until=today + timedelta(days=2), by=csm)
    assert services.tasks_wake_snoozed(today=today + timedelta(days=1)) == 0
    assert services.tasks_wake_snoozed(today=today + timedelta(days=2)) == 1
    task.refresh_from_db()
    assert (task.status, task.snoozed_until) == (TaskStatus.OPEN, None)
    assert task.status_changes.last().note == "snooze ended"


@pytest.mark.django_db
def test_permission_helper(csm, other_csm, manager, acme):
    # Given a task on the CSM's account, and one on another account assigned to the CSM
    own_account_task = services.task_create(account=acme, title="a", assignee=None)
    other_account = AccountFactory(owner=other_csm)
    assigned_task = services.task_create(account=other_account, title="b", assignee=csm)
    foreign_task = services.task_create(account=other_account, title="c", assignee=other_csm)

    # Then managers may change anything; a CSM only their accounts' and their own tasks
    assert services.task_can_change(manager, foreign_task)
    assert services.task_can_change(csm, own_account_task)
    assert services.task_can_change(csm, assigned_task)
    assert not services.task_can_change(csm, foreign_task)

    # And the services refuse what the helper refuses, changing nothing
    with pytest.raises(PermissionDenied):
        services.task_complete(task=foreign_task, by=csm)
    with pytest.raises(PermissionDenied):
        services.task_update(task=foreign_task, data={"title": "mine now"}, by=csm)
    with pytest.raises(PermissionDenied):
        services.task_create(account=other_account, title="d", by=csm)
    foreign_task.refresh_from_db()
    assert (foreign_task.status, foreign_task.title) == (TaskStatus.OPEN, "c")
    services.task_complete(task=foreign_task, by=manager)


@pytest.mark.django_db
def test_dedupe_key_returns_the_existing_task(acme):
    first = services.task_create(account=acme, title="Review", dedupe_key="review:1:2026-Q4")
    second = services.task_create(account=acme, title="Other", dedupe_key="review:1:2026-Q4")
    assert second.pk == first.pk and second.title == "Review"
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_task_create_refuses_bad_input_naming_the_field(acme):
    with pytest.raises(ValidationError) as error:
        services.task_create(account=acme, title="")
    assert "title" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.task_update(
            task=services.task_create(account=acme, title="x"), data={"status": "done"}
        )
    assert "status" in error.value.message_dict


@pytest.mark.django_db
@pytest.mark.usefixtures("default_windows")
def test_database_allows_one_renewal_task_per_contract_and_window(acme):
    # Given a renewal task for a contract and window
    contract = ContractFactory(account=acme)
    window = RenewalWindow.objects.get(days=120)
    Task.objects.create(
        account=acme, title="a", source=TaskSource.RENEWAL, contract=contract, window=window
    )

    # When a second one is written directly, bypassing the services
    # Then the database refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(
            account=acme, title="b", source=TaskSource.RENEWAL, contract=contract, window=window
        )
    # And the service reports it as a validation error on the window
    with pytest.raises(ValidationError) as error:
        services.task_create(
            account=acme, title="c", source=TaskSource.RENEWAL, contract=contract, window=window
        )
    assert "window" in error.value.message_dict


@pytest.mark.django_db
@pytest.mark.usefixtures("default_windows")
def test_only_renewal_tasks_have_a_window(acme):
    contract = ContractFactory(account=acme)
    window = RenewalWindow.objects.get(days=90)
    # The service names the field
    with pytest.raises(ValidationError) as error:
        services.task_create(account=acme, title="x", contract=contract, window=window)
    assert "window" in error.value.message_dict
    # And the database refuses it written directly
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(
            account=acme, title="y", source=TaskSource.MANUAL, contract=contract, window=window
        )
    assert not Task.objects.exists()


# Two writers at once, each on its own connection: SQLite serializes every write anyway.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency needs PostgreSQL"
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_build_waits_for_a_renewal_task_created_by_hand(settings):
    """The build inserts the tasks it found missing (no ON CONFLICT on PostgreSQL); a
    renewal task created by hand meanwhile would make that insert fail, so the two are
    serialized by the renewal writers' lock."""
    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    today = settings.CS_TODAY = date(2026, 11, 22)
    account = AccountFactory(owner=UserFactory(username="owner"))
    contract = ContractFactory(
        account=account, start_date=today - timedelta(days=300), end_date=today + timedelta(60)
    )
    window = RenewalWindow.objects.get(days=90)
    created = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def create_by_hand() -> None:
        try:
            with transaction.atomic():
                services.task_create(
                    account=account,
                    title="Call them",
                    source=TaskSource.RENEWAL,
                    contract=contract,
                    window=window,
                )
                created.set()
                release.wait(timeout=10)  # still uncommitted while the build starts
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    def build() -> None:
        try:
            services.renewal_queue_rebuild(today=today, full=True)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    # Given a renewal task created by hand, not yet committed
    by_hand = threading.Thread(target=create_by_hand)
    by_hand.start()
    assert created.wait(timeout=10)
    # When a build starts meanwhile
    builder = threading.Thread(target=build)
    builder.start()
    builder.join(timeout=1)
    # Then it waits for the hand-made task's transaction
    assert builder.is_alive()
    release.set()
    by_hand.join(timeout=10)
    builder.join(timeout=30)
    # And then, without an error, creates no second task: the hand-made T-90 task is the
    # renewal's task (its tightest window)
    assert errors == []
    tasks = Task.objects.filter(contract=contract).order_by("window__days")
    assert [(t.window.days, t.title) for t in tasks] == [(90, "Call them")]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_rebuilds_create_each_renewal_task_once(settings):
    # Given 200 contracts inside the windows (transactional tests start without the
    # default windows of the data migration)
    for days in (120, 90):
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})
    today = settings.CS_TODAY = date(2026, 11, 22)
    owner = UserFactory(username="owner")
    for i in range(200):
        ContractFactory(
            account=AccountFactory(owner=owner),
            start_date=today - timedelta(days=300),
            end_date=today + timedelta(days=i % 125),
        )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            barrier.wait(timeout=10)
            services.renewal_queue_rebuild(today=today, full=True)
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    # When two threads (each with its own connection) rebuild at the same moment
    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then both succeed and every renewal (a contract inside a window) has exactly one task
    assert errors == []
    expected = sum(1 for i in range(200) if i % 125 <= 120)
    assert Task.objects.filter(source=TaskSource.RENEWAL).count() == expected
    assert Task.objects.values("contract").distinct().count() == expected
