"""Writes of tasks (the CSM's work items, not Celery tasks): create, edit, the status
changes with their history, and the daily wake-up of snoozed tasks. Who may change a task
is decided here (``task_can_change``); the services raise PermissionDenied."""

from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cs_platform import clock
from cs_platform.roles import is_manager
from customers.models import Account, Contract

from .. import renewal_queue
from ..models import (
    PlaybookRun,
    RenewalWindow,
    Task,
    TaskSource,
    TaskStatus,
    TaskStatusChange,
)


def task_can_change(user: Any, task: Task) -> bool:
    """Managers may change any task; a CSM only tasks on accounts they own or tasks
    assigned to them. (``task.account`` is read: select_related it in lists.)"""
    if user is None or not user.is_authenticated:
        return False
    if is_manager(user):
        return True
    return task.assignee_id == user.pk or task.account.owner_id == user.pk


def task_can_create(user: Any, account: Account) -> bool:
    """Managers may create tasks on any account; a CSM on accounts they own."""
    if user is None or not user.is_authenticated:
        return False
    return is_manager(user) or account.owner_id == user.pk


def _ensure_can_change(user: Any, task: Task) -> None:
    if user is not None and not task_can_change(user, task):
        raise PermissionDenied("You may only change tasks of your own accounts or your own tasks.")


def task_create(
    *,
    account: Account,
    title: str,
    description: str = "",
    due_date: date | None = None,
    assignee: Any = None,
    source: str = TaskSource.MANUAL,
    dedupe_key: str | None = None,
    by: Any = None,
    playbook_run: PlaybookRun | None = None,
    contract: Contract | None = None,
    window: RenewalWindow | None = None,
) -> Task:
    """Create a task. ``by`` is the user acting (None for the system); a CSM may only
    create tasks on accounts they own. With ``dedupe_key`` the task is created at most
    once: when a task with that key exists (even one created concurrently) it is
    returned unchanged."""
    if by is not None and not task_can_create(by, account):
        raise PermissionDenied("You may only create tasks on accounts you own.")
    if window is not None and source != TaskSource.RENEWAL:
        raise ValidationError({"window": ["Only renewal tasks have a renewal window."]})
    if dedupe_key:
        existing = Task.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    task = Task(
        account=account,
        title=title,
        description=description,
        due_date=due_date,
        assignee=assignee,
        source=source,
        dedupe_key=dedupe_key or None,
        created_by=by,
        playbook_run=playbook_run,
        contract=contract,
        window=window,
    )
    task.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            if source == TaskSource.RENEWAL:  # not while a renewal queue build writes
                renewal_queue.renewal_writers_lock(shared=True)
            task.save()
    except IntegrityError:
        if dedupe_key:
            existing = Task.objects.filter(dedupe_key=dedupe_key).first()
            if existing is not None:
                return existing
        if source == TaskSource.RENEWAL:
            raise ValidationError(
                {"window": ["This contract already has a task for this window."]}
            ) from None
        raise
    return task


TASK_EDITABLE_FIELDS = ("title", "description", "due_date", "assignee")


@transaction.atomic
def task_update(*, task: Task, data: dict[str, Any], by: Any = None) -> Task:
    """Change a task's title, description, due date or assignee (status has its own
    services, which keep the history)."""
    _ensure_can_change(by, task)
    unknown = sorted(set(data) - set(TASK_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    for name, value in data.items():
        setattr(task, name, value)
    task.full_clean(validate_unique=False, validate_constraints=False)
    if data:
        task.save(update_fields=[*data, "updated_at"])
    return task


@transaction.atomic
def task_set_status(
    *,
    task: Task,
    status: str,
    by: Any = None,
    note: str = "",
    snoozed_until: date | None = None,
) -> Task:
    """Move a task to ``status`` and record who did it and when (TaskStatusChange).

    ``snoozed`` needs ``snoozed_until`` after today; ``done`` sets ``completed_at``;
    ``open`` clears both. Setting the status it already has changes nothing (except a
    snoozed task's date). ``by`` None is the system; otherwise ``task_can_change`` must
    allow it.
    """
    if status not in TaskStatus.values:
        raise ValidationError(
            {"status": [f"Unknown status {status!r}; expected one of {TaskStatus.values}."]}
        )
    locked = Task.objects.select_related("account").select_for_update(of=("self",)).get(pk=task.pk)
    _ensure_can_change(by, locked)
    if status == TaskStatus.SNOOZED:
        if snoozed_until is None:
            raise ValidationError({"snoozed_until": ["A date is required to snooze a task."]})
        if snoozed_until <= clock.today():
            raise ValidationError({"snoozed_until": ["Snooze until a date after today."]})
    elif snoozed_until is not None:
        raise ValidationError({"snoozed_until": ["Only a snoozed task has this date."]})
    previous = locked.status
    if previous == status and (
        status != TaskStatus.SNOOZED or locked.snoozed_until == snoozed_until
    ):
        return locked
    now = timezone.now()
    locked.status = status
    locked.snoozed_until = snoozed_until if status == TaskStatus.SNOOZED else None
    locked.completed_at = now if status == TaskStatus.DONE else None
    locked.save(update_fields=["status", "snoozed_until", "completed_at", "updated_at"])
    TaskStatusChange.objects.create(
        task=locked,
        from_status=previous,
        to_status=status,
        by=by if by is not None and by.is_authenticated else None,
        at=now,
        note=note if status != TaskStatus.SNOOZED or note else f"until {snoozed_until}",
    )
    for name in ("status", "snoozed_until", "completed_at", "updated_at"):
        setattr(task, name, getattr(locked, name))
    return task


def task_complete(*, task: Task, by: Any = None, note: str = "") -> Task:
    return task_set_status(task=task, status=TaskStatus.DONE, by=by, note=note)


def task_snooze(*, task: Task, until: date, by: Any = None, note: str = "") -> Task:
    return task_set_status(
        task=task, status=TaskStatus.SNOOZED, by=by, note=note, snoozed_until=until
    )


def task_cancel(*, task: Task, by: Any = None, note: str = "") -> Task:
    return task_set_status(task=task, status=TaskStatus.CANCELLED, by=by, note=note)


def task_reopen(*, task: Task, by: Any = None, note: str = "") -> Task:
    return task_set_status(task=task, status=TaskStatus.OPEN, by=by, note=note)


@transaction.atomic
def tasks_wake_snoozed(*, today: date | None = None) -> int:
    """Reopen snoozed tasks whose date has come (history rows by the system), set-based."""
    today = today or clock.today()
    due = Task.objects.filter(status=TaskStatus.SNOOZED, snoozed_until__lte=today)
    ids = list(due.select_for_update().values_list("id", flat=True))
    if not ids:
        return 0
    now = timezone.now()
    TaskStatusChange.objects.bulk_create(
        [
            TaskStatusChange(
                task_id=i,
                from_status=TaskStatus.SNOOZED,
                to_status=TaskStatus.OPEN,
                at=now,
                note="snooze ended",
            )
            for i in ids
        ]
    )
    return Task.objects.filter(id__in=ids).update(
        status=TaskStatus.OPEN, snoozed_until=None, updated_at=now
    )
