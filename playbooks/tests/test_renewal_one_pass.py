"""The one-pass renewal diff (``renewal_queue.run_statements``) against the four-statement
diff it replaced (``renewal_four_statements``), on random queues (hypothesis): from the same
state, both give the same entries, tasks (assignees, statuses, texts, due dates),
reassignments, closed tasks and history rows, and the same counts; as a full diff and as a
delta of any scope."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from customers.models import Account, Contract, ContractStatus
from customers.tests.factories import AccountFactory, ContractFactory
from playbooks import renewal_queue, services
from playbooks.models import (
    RenewalQueueEntry,
    RenewalWindow,
    Task,
    TaskSource,
    TaskStatus,
    TaskStatusChange,
)

from .renewal_four_statements import run_four_statements

TODAY = date(2026, 11, 22)
WINDOW_DAYS = (30, 90, 120)
# Days from a build's today to a contract's end: window edges, overdue, outside every window.
END_OFFSETS = [-40, -2, -1, 0, 1, 29, 30, 31, 60, 89, 90, 91, 119, 120, 121, 122, 200]
STATUSES = [ContractStatus.ACTIVE] * 4 + [ContractStatus.CHURNED, ContractStatus.RENEWED]
ARRS = [Decimal("0.00"), Decimal("999.50"), Decimal("12000.00"), Decimal("120000.00")]
TASK_CHANGES = ["keep", "keep", "done", "cancelled", "snoozed", "handed"]
# At most 12 contracts, each in up to three windows and overdue: no more entries or tasks.
MAX_ROWS = 48

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    """Raised to roll a savepoint back after its snapshot was taken."""


def _snapshot() -> dict:
    """The queue, the renewal tasks and their history, ids left out (sequences are not
    rolled back, so two runs from one state number new rows differently)."""
    task_key = {
        task_id: (contract_id, window_id)
        for task_id, contract_id, window_id in Task.objects.values_list(
            "id", "contract_id", "window_id"
        )
    }
    entry_fields = ["contract_id", "window_id", "account_id", "csm_id", "arr", "renewal_date"]
    task_fields = ["contract_id", "window_id", "source", "account_id", "assignee_id", "title"]
    task_fields += ["description", "due_date", "status", "snoozed_until", "created_at"]
    changes = TaskStatusChange.objects.values_list("task_id", "from_status", "to_status", "at")
    return {
        "entries": sorted(
            RenewalQueueEntry.objects.values_list(*entry_fields, "overdue", "computed_at"),
            key=repr,
        ),
        "tasks": sorted(Task.objects.values_list(*task_fields, "updated_at"), key=repr),
        "history": sorted(
            (
                (task_key[task_id], *rest, note)
                for (task_id, *rest), note in zip(
                    changes.order_by("id"),
                    TaskStatusChange.objects.order_by("id").values_list("note", flat=True),
                    strict=True,
                )
            ),
            key=repr,
        ),
    }


def _run(runner, **kwargs) -> tuple[dict, dict]:  # noqa: ANN001
    """Run one diff in a savepoint under the writers' lock; its counts and the snapshot of
    what it left, then roll it back."""
    result = {}
    try:
        with transaction.atomic():
            renewal_queue.renewal_writers_lock()
            counts = runner(**kwargs)
            result["counts"] = {
                name: getattr(counts, name)
                for name in ("inserted", "updated", "deleted", "tasks_created")
                + ("tasks_reassigned", "tasks_closed")
            }
            result["snapshot"] = _snapshot()
            raise _Rollback
    except _Rollback:
        pass
    return result["counts"], result["snapshot"]


def _mutate(data: st.DataObject, *, today: date, users: list, accounts: list, contracts: list):  # noqa: ANN202
    """Random changes behind the queue's back (QuerySet.update: no signals, no queued
    build): owners, contracts (end date, status, ARR, account), renewal tasks (closed,
    snoozed, handed to someone else), entries deleted, windows switched on or off."""
    owners = [None, *users]
    for account in accounts:
        if data.draw(st.booleans()):
            owner = data.draw(st.sampled_from(owners))
            Account.objects.filter(pk=account.pk).update(owner=owner)
    for contract in contracts:
        # Each field on its own, so that any one of them may be all that changed.
        fields = {
            "end_date": st.sampled_from(END_OFFSETS).map(lambda days: today + timedelta(days)),
            "status": st.sampled_from(STATUSES),
            "arr": st.sampled_from(ARRS),
            "account": st.sampled_from(accounts),
        }
        changes = {
            name: data.draw(values) for name, values in fields.items() if data.draw(st.booleans())
        }
        if changes:
            Contract.objects.filter(pk=contract.pk).update(**changes)
    # Drawn in fixed numbers, whatever the number of tasks and entries the builds made, so
    # that what is drawn never depends on the database.
    task_changes = data.draw(
        st.lists(
            st.tuples(st.sampled_from(TASK_CHANGES), st.sampled_from(owners)),
            min_size=MAX_ROWS,
            max_size=MAX_ROWS,
        )
    )
    entry_deletes = data.draw(st.lists(st.integers(0, 9), min_size=MAX_ROWS, max_size=MAX_ROWS))
    tasks = Task.objects.filter(source=TaskSource.RENEWAL).order_by("id")
    for task, (change, owner) in zip(tasks, task_changes, strict=False):
        if change in ("done", "cancelled"):
            Task.objects.filter(pk=task.pk).update(status=change)
        elif change == "snoozed":
            Task.objects.filter(pk=task.pk).update(
                status=TaskStatus.SNOOZED, snoozed_until=today + timedelta(days=3)
            )
        elif change == "handed":
            Task.objects.filter(pk=task.pk).update(assignee=owner)
    entry_ids = RenewalQueueEntry.objects.order_by("id").values_list("id", flat=True)
    for entry_id, delete in zip(entry_ids, entry_deletes, strict=False):
        if delete == 0:
            RenewalQueueEntry.objects.filter(pk=entry_id).delete()
    for days in WINDOW_DAYS:
        if data.draw(st.integers(0, 3)) == 0:
            RenewalWindow.objects.filter(days=days).update(is_active=data.draw(st.booleans()))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_one_pass_diff_equals_the_four_statement_diff(data, settings):
    settings.CS_TODAY = TODAY
    # Each example in a savepoint rolled back at its end: examples share the test's
    # transaction, and what one leaves (builds, queued work) must not shape the next.
    try:
        with transaction.atomic():
            _check_one_example(data)
            raise _Rollback
    except _Rollback:
        pass


def _check_one_example(data: st.DataObject) -> None:
    # Given a random queue: windows, accounts with owners, contracts, built twice with
    # random changes between (tasks closed by hand, superseded, reassigned), then more
    # random changes and a later day
    RenewalQueueEntry.objects.all().delete()
    Task.objects.all().delete()
    Contract.objects.all().delete()
    Account.objects.all().delete()
    for days in WINDOW_DAYS:
        RenewalWindow.objects.update_or_create(
            days=days, defaults={"name": f"T-{days}", "is_active": days != 30}
        )
    users = [
        get_user_model().objects.get_or_create(username=f"csm{index}")[0] for index in range(3)
    ]
    accounts = [
        AccountFactory(owner=data.draw(st.sampled_from([None, *users])))
        for _ in range(data.draw(st.integers(1, 5)))
    ]
    contracts = [
        ContractFactory(
            account=data.draw(st.sampled_from(accounts)),
            start_date=TODAY - timedelta(days=400),
            end_date=TODAY + timedelta(days=data.draw(st.sampled_from(END_OFFSETS))),
            status=data.draw(st.sampled_from(STATUSES)),
            arr=data.draw(st.sampled_from(ARRS)),
        )
        for _ in range(data.draw(st.integers(0, 12)))
    ]
    day = TODAY
    for _ in range(2):
        services.renewal_queue_rebuild(today=day, full=True)
        day += timedelta(days=data.draw(st.sampled_from([0, 0, 0, 1, 30, 61])))
        _mutate(data, today=day, users=users, accounts=accounts, contracts=contracts)

    # When both diffs run from that state, as a full diff and as a delta of a random
    # scope (its changed part within the part that may leave, within the scope)
    ids = sorted(c.pk for c in contracts)
    scope = sorted(data.draw(st.sets(st.sampled_from(ids))) if ids else [])
    leaving = sorted(data.draw(st.sets(st.sampled_from(scope))) if scope else [])
    changed = sorted(data.draw(st.sets(st.sampled_from(leaving))) if leaving else [])
    windows = list(RenewalWindow.objects.filter(is_active=True).order_by("-days"))
    now = timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(hours=2)
    for kwargs in (
        {"scope": None},
        {"scope": scope, "changed": changed, "leaving": leaving},
    ):
        common = {"today": day, "now": now, "windows": windows, **kwargs}
        old_counts, old_state = _run(run_four_statements, **common)
        new_counts, new_state = _run(renewal_queue.run_statements, **common)

        event(
            f"updated {min(old_counts['updated'], 3)}, reassigned {min(old_counts['tasks_reassigned'], 3)}"
        )
        # Then they leave the same queue, tasks and history, and count the same rows
        assert new_state == old_state, kwargs
        assert new_counts == old_counts, kwargs
