"""Writes of the playbooks app: the renewal queue, tasks and playbooks (DESIGN 4 and 5).

Public services (keyword-only arguments):

- Renewals: ``renewal_queue_rebuild(today=None, full=False)``, ``renewal_window_create``.
- Tasks: ``task_create``, ``task_update``, ``task_set_status``, ``task_complete``,
  ``task_snooze``, ``task_cancel``, ``task_reopen``, ``tasks_wake_snoozed``; permission
  helper ``task_can_change(user, task) -> bool`` (the services raise PermissionDenied).
- Playbooks: ``playbook_create``, ``playbook_update``, ``playbook_set_steps``,
  ``playbook_activate``, ``playbook_deactivate``, ``playbooks_process_events``,
  ``playbook_run_execute``, ``playbook_dry_run``, ``playbook_runs_enqueue_pending``,
  ``playbooks_request_processing``.
"""

import logging
import time as time_module
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum, Value
from django.utils import timezone

from cs_platform import clock
from customers import services as customer_services
from customers.models import Account, Contract, ContractStatus
from customers.roles import is_manager
from segments.models import Membership, MembershipEvent, MembershipEventKind

from . import renewal_queue, steps
from .models import (
    Playbook,
    PlaybookActivation,
    PlaybookRun,
    PlaybookStep,
    PlaybookStepRun,
    PlaybookTrigger,
    RenewalQueueBuild,
    RenewalWindow,
    RunStatus,
    StepKind,
    StepOutcome,
    Task,
    TaskSource,
    TaskStatus,
    TaskStatusChange,
)

logger = logging.getLogger(__name__)
User = get_user_model()

# --- Renewal queue ----------------------------------------------------------------------------

# The delta looks at rows changed since the previous build started, minus this margin (for
# transactions that set updated_at before the previous build but committed after it).
RENEWAL_DELTA_MARGIN = timedelta(minutes=10)
# A full diff at least this often heals anything the delta cannot see (raw SQL writes).
RENEWAL_FULL_EVERY_DAYS = 7
# Above this many changed contracts a full diff is cheaper than a scoped one.
RENEWAL_DELTA_MAX_SCOPE = 100_000


@dataclass(frozen=True)
class _DeltaScope:
    """The contracts a delta re-diffs (sorted id lists): ``changed``, whose contract or
    account row changed since the previous build (entries and tasks may be out of date);
    ``overdue``, unchanged ones whose end_date passed since the previous build's day (their
    window entries leave, an overdue entry comes); ``entering``, unchanged ones that entered
    a window (entries only come)."""

    changed: list[int]
    overdue: list[int]
    entering: list[int]

    @cached_property
    def all(self) -> list[int]:
        return sorted(self.changed + self.overdue + self.entering)

    @property
    def leaving(self) -> list[int]:
        """The only contracts that can have entries to delete: as days pass, a window's
        lower bound (today) passes an unchanged contract only when it becomes overdue."""
        return sorted(self.changed + self.overdue)


def _delta_scope(
    *, since: datetime, last_day: date, today: date, windows: list[RenewalWindow]
) -> _DeltaScope:
    """Contracts changed since ``since`` or crossing a window boundary between ``last_day``
    and ``today``, in one query: a UNION ALL whose branches are index range scans (contract
    and account ``updated_at``; the active contracts' (end_date, id) index, read without
    the table, once per boundary)."""
    active = Contract.objects.filter(status=ContractStatus.ACTIVE)
    branches = [
        Contract.objects.filter(updated_at__gte=since).annotate(kind=Value("c")),
        Contract.objects.filter(account__updated_at__gte=since).annotate(kind=Value("c")),
    ]
    if today > last_day:
        branches.append(
            active.filter(end_date__gte=last_day, end_date__lt=today).annotate(kind=Value("o"))
        )
        branches += [
            active.filter(
                end_date__gt=last_day + timedelta(days=window.days),
                end_date__lte=today + timedelta(days=window.days),
            ).annotate(kind=Value("e"))
            for window in windows
        ]
    first, *rest = (branch.order_by().values_list("id", "kind") for branch in branches)
    # A contract in several branches counts once, as its strongest kind: changed, then
    # overdue (its window entries leave), then entering.
    strength = "eoc"
    kinds: dict[int, str] = {}
    for contract_id, kind in first.union(*rest, all=True):
        kinds[contract_id] = max(kinds.get(contract_id, kind), kind, key=strength.index)
    by_kind: dict[str, list[int]] = {kind: [] for kind in strength}
    for contract_id, kind in kinds.items():
        by_kind[kind].append(contract_id)
    return _DeltaScope(
        changed=sorted(by_kind["c"]), overdue=sorted(by_kind["o"]), entering=sorted(by_kind["e"])
    )


@transaction.atomic
def renewal_queue_rebuild(
    *, today: date | None = None, full: bool = False, timings: list | None = None
) -> RenewalQueueBuild:
    """Bring the renewal queue and its renewal tasks up to date for ``today``.

    A set-based diff (``renewal_queue.run_statements``): open renewal tasks follow an owner
    change; entries whose contract is no longer active or left its window are deleted;
    changed entries (owner, ARR, renewal date) are updated; missing entries are inserted
    (INSERT ... SELECT of the missing ones); then one task per new (contract, window)
    entry, exactly once (a unique index, and builds serialized by a lock on PostgreSQL).

    By default only a delta is diffed: contracts changed since the previous build, and
    contracts that crossed a window boundary since the previous build's day (owner, ARR
    and renewal date updates look only at the changed ones, deletes only at those and the
    ones that became overdue). A full diff runs when asked (``full=True``), on the first build, when the active windows changed,
    when ``today`` is before the previous build's day, or when the last full diff is more
    than RENEWAL_FULL_EVERY_DAYS old. Safe to run twice or concurrently. ``timings``, if
    given, receives (statement, seconds, rows) per step.
    """
    today = today or clock.today()
    # First: a concurrent build waits here, then diffs against what this one wrote.
    renewal_queue.renewal_writers_lock()
    started_at = timezone.now()
    windows = list(RenewalWindow.objects.filter(is_active=True).order_by("-days"))
    signature = ",".join(str(window.days) for window in windows)
    previous = RenewalQueueBuild.objects.order_by("-started_at", "-id").first()
    last_full = RenewalQueueBuild.objects.filter(full=True).order_by("-started_at", "-id").first()
    scope = changed = leaving = None  # None: every contract (a full diff)
    scope_started = time_module.perf_counter()
    if (
        not full
        and previous is not None
        and last_full is not None
        and previous.windows == signature
        and previous.built_for <= today
        and (today - last_full.built_for).days < RENEWAL_FULL_EVERY_DAYS
    ):
        delta = _delta_scope(
            since=previous.started_at - RENEWAL_DELTA_MARGIN,
            last_day=previous.built_for,
            today=today,
            windows=windows,
        )
        if len(delta.all) <= RENEWAL_DELTA_MAX_SCOPE:
            scope, changed, leaving = delta.all, delta.changed, delta.leaving
    scope_seconds = time_module.perf_counter() - scope_started
    counts = renewal_queue.run_statements(
        today=today,
        now=started_at,
        windows=windows,
        scope=scope,
        changed=changed,
        leaving=leaving,
    )
    if timings is not None:
        timings.append(("find delta scope", scope_seconds, len(scope or [])))
        timings.extend(counts.timings)
    build = RenewalQueueBuild.objects.create(
        built_for=today,
        full=scope is None,
        windows=signature,
        started_at=started_at,
        finished_at=timezone.now(),
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        tasks_created=counts.tasks_created,
        tasks_reassigned=counts.tasks_reassigned,
    )
    logger.info(
        "renewal queue for %s (%s): +%d ~%d -%d entries, %d tasks created, %d reassigned",
        today,
        "full" if build.full else f"delta of {len(scope or [])} contracts",
        counts.inserted,
        counts.updated,
        counts.deleted,
        counts.tasks_created,
        counts.tasks_reassigned,
    )
    return build


@transaction.atomic
def renewal_window_create(*, days: int, name: str = "", is_active: bool = True) -> RenewalWindow:
    window = RenewalWindow(days=days, name=name or f"T-{days}", is_active=is_active)
    window.full_clean()
    window.save()
    return window


# --- Tasks ------------------------------------------------------------------------------------


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


# --- Playbooks: definition --------------------------------------------------------------------

PLAYBOOK_FIELDS = (
    "name",
    "description",
    "segment",
    "trigger",
    "is_active",
    "stable_days",
    "reentry_cooldown_days",
    "on_activation",
)


def playbook_steps_validate(step_specs: Any) -> list[dict]:
    """Validate a list of ``{"kind", "config"}`` (order = position); errors name the path,
    e.g. ``steps[1].config.url: ...``."""
    if not isinstance(step_specs, list):
        raise ValidationError({"steps": ["Expected a list of steps."]})
    cleaned, messages = [], []
    for index, spec in enumerate(step_specs):
        if not isinstance(spec, dict):
            messages.append(f"steps[{index}]: expected an object with kind and config.")
            continue
        try:
            config = steps.step_config_validate(
                spec.get("kind"), spec.get("config", {}), path=f"steps[{index}].config"
            )
        except ValidationError as exc:
            messages.extend(exc.messages)
            continue
        cleaned.append({"kind": spec["kind"], "config": config})
    if messages:
        raise ValidationError({"steps": messages})
    return cleaned


def _playbook_check(playbook: Playbook) -> None:
    playbook.full_clean()
    if (
        playbook.trigger == PlaybookTrigger.ON_EXIT
        and playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
    ):
        raise ValidationError(
            {"on_activation": ["An on_exit playbook cannot run for the current members."]}
        )


@transaction.atomic
def playbook_set_steps(*, playbook: Playbook, steps_data: list[dict]) -> list[PlaybookStep]:
    """Replace the playbook's steps with ``steps_data`` (validated; order = position)."""
    cleaned = playbook_steps_validate(steps_data)
    playbook.steps.all().delete()
    return PlaybookStep.objects.bulk_create(
        [
            PlaybookStep(playbook=playbook, order=index + 1, kind=s["kind"], config=s["config"])
            for index, s in enumerate(cleaned)
        ]
    )


@transaction.atomic
def playbook_create(*, steps: list[dict] | None = None, by: Any = None, **data: Any) -> Playbook:
    """Create a playbook (fields of PLAYBOOK_FIELDS) with its ordered steps
    (``[{"kind": ..., "config": {...}}, ...]``). Created active, it is activated now."""
    unknown = sorted(set(data) - set(PLAYBOOK_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    playbook = Playbook(**data, created_by=by)
    if playbook.is_active:
        playbook.activated_at = timezone.now()
    _playbook_check(playbook)
    cleaned = playbook_steps_validate(steps or [])
    playbook.save()
    playbook_set_steps(playbook=playbook, steps_data=cleaned)
    if playbook.is_active:
        playbooks_request_processing(segment_id=playbook.segment_id)
    return playbook


@transaction.atomic
def playbook_update(
    *, playbook: Playbook, data: dict[str, Any], steps: list[dict] | None = None
) -> Playbook:
    """Change a playbook's fields (and replace its steps when ``steps`` is given).
    Switching ``is_active`` on (re)activates it: ``activated_at`` becomes now."""
    unknown = sorted(set(data) - set(PLAYBOOK_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    was_active = Playbook.objects.filter(pk=playbook.pk).values_list("is_active", flat=True).get()
    for name, value in data.items():
        setattr(playbook, name, value)
    fields = list(data)
    if playbook.is_active and not was_active:
        playbook.activated_at = timezone.now()
        fields.append("activated_at")
    _playbook_check(playbook)
    if fields:
        playbook.save(update_fields=[*fields, "updated_at"])
    if steps is not None:
        playbook_set_steps(playbook=playbook, steps_data=steps)
    if playbook.is_active and "activated_at" in fields:
        playbooks_request_processing(segment_id=playbook.segment_id)
    return playbook


def playbook_activate(*, playbook: Playbook, on_activation: str | None = None) -> Playbook:
    data: dict[str, Any] = {"is_active": True}
    if on_activation:
        data["on_activation"] = on_activation
    return playbook_update(playbook=playbook, data=data)


def playbook_deactivate(*, playbook: Playbook) -> Playbook:
    return playbook_update(playbook=playbook, data={"is_active": False})


# --- Playbooks: the engine --------------------------------------------------------------------

# Membership events (or members) handled per playbook per statement batch; a call handles
# at most PROCESS_MAX_BATCHES batches per playbook and reports whether more remain.
PROCESS_BATCH_SIZE = 1000
PROCESS_MAX_BATCHES = 20
# Pending runs older than this are enqueued again by the sweep (a lost message).
PENDING_RUN_GRACE = timedelta(minutes=5)


@dataclass
class ProcessResult:
    runs_created: int = 0
    runs_skipped: int = 0
    has_more: bool = False
    run_ids: list[int] = field(default_factory=list)


def playbooks_request_processing(*, segment_id: int | None = None) -> None:
    """Queue playbook processing for a segment (or all) after the current commit."""
    from .tasks import process_events_task

    process_events_task.delay_on_commit(segment_id)


def _enqueue_runs(run_ids: list[int]) -> None:
    from .tasks import run_execute_task

    for run_id in run_ids:
        run_execute_task.delay_on_commit(run_id)


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _recent_runs(playbook: Playbook, account_ids: list[int], since: datetime) -> dict:
    """When this playbook last ran (not skipped) for these accounts, trigger times since."""
    times: dict[int, list[datetime]] = defaultdict(list)
    rows = (
        PlaybookRun.objects.filter(
            playbook=playbook, account_id__in=account_ids, triggered_at__gte=since
        )
        .exclude(status=RunStatus.SKIPPED)
        .values_list("account_id", "triggered_at")
    )
    for account_id, at in rows:
        times[account_id].append(at)
    return times


def _cooldown_blocks(playbook: Playbook, previous: list[datetime], at: datetime) -> bool:
    if not playbook.reentry_cooldown_days:
        return False
    start = at - timedelta(days=playbook.reentry_cooldown_days)
    return any(start <= t < at for t in previous)


def _process_event_batch(playbook: Playbook, today: date) -> tuple[list[PlaybookRun], bool]:
    """Build run rows for the next batch of this playbook's unprocessed events."""
    kind, opposite = (
        (MembershipEventKind.ENTERED, MembershipEventKind.EXITED)
        if playbook.trigger == PlaybookTrigger.ON_ENTER
        else (MembershipEventKind.EXITED, MembershipEventKind.ENTERED)
    )
    has_run = PlaybookRun.objects.filter(  # (playbook, account, event): the unique index
        playbook=playbook, account_id=OuterRef("account_id"), membership_event=OuterRef("pk")
    )
    events = MembershipEvent.objects.filter(
        segment_id=playbook.segment_id, kind=kind, at__gte=playbook.activated_at
    ).filter(~Exists(has_run))
    if playbook.stable_days:
        # Wait until the account has stayed N days; skip if it flipped back within them.
        stable = timedelta(days=playbook.stable_days)
        events = events.filter(at__lt=_start_of_day(today - stable + timedelta(days=1)))
        flipped = MembershipEvent.objects.filter(
            segment_id=OuterRef("segment_id"),
            account_id=OuterRef("account_id"),
            kind=opposite,
            at__gt=OuterRef("at"),
            at__lte=OuterRef("at") + stable,
        )
        events = events.annotate(flipped=Exists(flipped))
    batch = list(events.order_by("at", "id")[: PROCESS_BATCH_SIZE + 1])
    has_more = len(batch) > PROCESS_BATCH_SIZE
    batch = batch[:PROCESS_BATCH_SIZE]
    if not batch:
        return [], False
    since = batch[0].at - timedelta(days=playbook.reentry_cooldown_days)
    previous = _recent_runs(playbook, sorted({e.account_id for e in batch}), since)
    runs = []
    for event in batch:
        run = PlaybookRun(
            playbook=playbook,
            account_id=event.account_id,
            membership_event=event,
            triggered_at=event.at,
            status=RunStatus.PENDING,
        )
        if getattr(event, "flipped", False):
            run.status = RunStatus.SKIPPED
            run.detail = f"Did not stay {playbook.stable_days} days (stable_days)."
        elif _cooldown_blocks(playbook, previous[event.account_id], event.at):
            run.status = RunStatus.SKIPPED
            run.detail = (
                f"Ran for this account within {playbook.reentry_cooldown_days} days before "
                "(reentry_cooldown_days)."
            )
        else:
            previous[event.account_id].append(event.at)
        runs.append(run)
    return runs, has_more


def _process_activation_batch(playbook: Playbook, today: date) -> tuple[list[PlaybookRun], bool]:
    """Runs for accounts that were already members when the playbook was activated with
    ``run_for_current_members`` (members who entered later are handled by their event)."""
    has_run = PlaybookRun.objects.filter(
        playbook=playbook,
        account_id=OuterRef("account_id"),
        membership_event__isnull=True,
        activation_at=playbook.activated_at,
    )
    members = Membership.objects.filter(
        segment_id=playbook.segment_id, entered_at__lt=playbook.activated_at
    ).filter(~Exists(has_run))
    if playbook.stable_days:
        stable = timedelta(days=playbook.stable_days)
        members = members.filter(entered_at__lt=_start_of_day(today - stable + timedelta(days=1)))
    batch = list(members.order_by("entered_at", "id")[: PROCESS_BATCH_SIZE + 1])
    has_more = len(batch) > PROCESS_BATCH_SIZE
    batch = batch[:PROCESS_BATCH_SIZE]
    if not batch:
        return [], False
    cooldown = timedelta(days=playbook.reentry_cooldown_days)
    previous = _recent_runs(
        playbook, sorted({m.account_id for m in batch}), playbook.activated_at - cooldown
    )
    runs = []
    for member in batch:
        run = PlaybookRun(
            playbook=playbook,
            account_id=member.account_id,
            activation_at=playbook.activated_at,
            triggered_at=playbook.activated_at,
            status=RunStatus.PENDING,
        )
        if _cooldown_blocks(playbook, previous[member.account_id], playbook.activated_at):
            run.status = RunStatus.SKIPPED
            run.detail = (
                f"Ran for this account within {playbook.reentry_cooldown_days} days before "
                "(reentry_cooldown_days)."
            )
        runs.append(run)
    return runs, has_more


def playbooks_process_events(
    *, segment_id: int | None = None, today: date | None = None
) -> ProcessResult:
    """Create the runs that membership events (and activations) call for, and enqueue
    their execution after commit.

    For each active playbook (of ``segment_id``, or all): membership events of its
    trigger's kind (entered for on_enter, exited for on_exit) since its activation that
    have no run yet; with ``stable_days`` only events at least that many days old, skipped
    (a run with status skipped) when the opposite event followed within them; with
    ``reentry_cooldown_days`` skipped when the playbook ran for the account within that
    many days before. With ``run_for_current_members`` also one run per account that was a
    member at activation. Runs are inserted with ON CONFLICT DO NOTHING against the unique
    keys (playbook, account, event) / (playbook, account, activation), so concurrent or
    repeated processing never creates a second run for one trigger.
    """
    today = today or clock.today()
    result = ProcessResult()
    playbooks = Playbook.objects.filter(is_active=True, activated_at__isnull=False).select_related(
        "segment"
    )
    if segment_id is not None:
        playbooks = playbooks.filter(segment_id=segment_id)
    for playbook in playbooks:
        builders = [_process_event_batch]
        if (
            playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
            and playbook.trigger == PlaybookTrigger.ON_ENTER
        ):
            builders.insert(0, _process_activation_batch)
        for builder in builders:
            for _ in range(PROCESS_MAX_BATCHES):
                with transaction.atomic():
                    runs, more = builder(playbook, today)
                    if runs:
                        PlaybookRun.objects.bulk_create(runs, ignore_conflicts=True)
                        ids = _created_pending_ids(playbook, runs)
                        result.run_ids.extend(ids)
                        result.runs_created += sum(r.status == RunStatus.PENDING for r in runs)
                        result.runs_skipped += sum(r.status == RunStatus.SKIPPED for r in runs)
                        _enqueue_runs(ids)
                if not more:
                    break
            else:
                result.has_more = True
    return result


def _created_pending_ids(playbook: Playbook, runs: list[PlaybookRun]) -> list[int]:
    event_ids = [r.membership_event_id for r in runs if r.membership_event_id]
    account_ids = [r.account_id for r in runs if not r.membership_event_id]
    keys = Q()
    if event_ids:
        keys |= Q(membership_event_id__in=event_ids)
    if account_ids:
        keys |= Q(
            membership_event__isnull=True,
            activation_at=playbook.activated_at,
            account_id__in=account_ids,
        )
    return list(
        PlaybookRun.objects.filter(keys, playbook=playbook, status=RunStatus.PENDING).values_list(
            "id", flat=True
        )
    )


def playbook_runs_enqueue_pending() -> int:
    """Enqueue runs left pending for longer than PENDING_RUN_GRACE (a lost message)."""
    cutoff = timezone.now() - PENDING_RUN_GRACE
    ids = list(
        PlaybookRun.objects.filter(status=RunStatus.PENDING, created_at__lt=cutoff).values_list(
            "id", flat=True
        )[:PROCESS_BATCH_SIZE]
    )
    _enqueue_runs(ids)
    return len(ids)


# --- Playbooks: executing a run ---------------------------------------------------------------


@dataclass
class StepResult:
    outcome: str
    detail: str = ""
    retry_in: int | None = None  # seconds, for a retrying webhook


def _assignee_for(config: dict, account: Account) -> tuple[Any, str]:
    wanted = config.get("assignee", "owner")
    if wanted == "owner":
        if account.owner is None:
            return None, "the account has no owner: the task is unassigned"
        return account.owner, f"assigned to the owner {account.owner.username}"
    user = User.objects.filter(username=wanted, is_active=True).first()
    if user is None:
        return None, f"no active user {wanted!r}: the task is unassigned"
    return user, f"assigned to {user.username}"


def _pool_users(config: dict) -> list[Any]:
    pool = config.get("pool", [])
    users = {u.username: u for u in User.objects.filter(username__in=pool, is_active=True)}
    return [users[name] for name in pool if name in users]


def _pick_from_pool(step: PlaybookStep, users: list[Any], *, assigned_so_far: int = 0) -> Any:
    """The pool user the strategy picks. Round robin counts this step's successful
    assignments so far; the others look at the users' current books."""
    strategy = step.config.get("strategy")
    if strategy == "round_robin":
        done = PlaybookStepRun.objects.filter(
            step=step, outcome=StepOutcome.OK, detail__startswith="assigned"
        ).count()
        return users[(done + assigned_so_far) % len(users)]
    books = (
        Account.objects.filter(owner__in=users)
        .values("owner_id")
        .annotate(accounts=Count("id"), arr=Sum("arr"))
    )
    load = {row["owner_id"]: row for row in books}
    if strategy == "fewest_accounts":
        return min(users, key=lambda u: load.get(u.pk, {}).get("accounts", 0))
    return min(users, key=lambda u: load.get(u.pk, {}).get("arr") or Decimal("0"))


def _execute_step(step: PlaybookStep, run: PlaybookRun, step_run: PlaybookStepRun) -> StepResult:
    """Perform one step (inside the caller's transaction, except the HTTP call)."""
    account = Account.objects.select_related("owner").get(pk=run.account_id)
    config = step.config
    context = steps.template_context(account=account, playbook=run.playbook, today=clock.today())
    if step.kind == StepKind.CREATE_TASK:
        assignee, note = _assignee_for(config, account)
        task = task_create(
            account=account,
            title=steps.render(config["title"], context)[:300],
            description=steps.render(config.get("description", ""), context),
            due_date=clock.today() + timedelta(days=config.get("due_in_days", 7)),
            assignee=assignee,
            source=TaskSource.PLAYBOOK,
            playbook_run=run,
            dedupe_key=f"playbook-run:{run.id}:{step_run.order}",
        )
        return StepResult(StepOutcome.OK, f"task {task.id} created, {note}")
    if step.kind == StepKind.SEND_EMAIL:
        recipients = list(config.get("to", []))
        if config.get("to_owner", True) and account.owner is not None and account.owner.email:
            recipients.insert(0, account.owner.email)
        if not recipients:
            return StepResult(StepOutcome.SKIPPED, "no recipient (the account has no owner email)")
        sent = mail.send_mail(
            subject=steps.render(config["subject"], context).replace("\n", " ")[:200],
            message=steps.render(config["body"], context),
            from_email=None,
            recipient_list=recipients,
        )
        return StepResult(StepOutcome.OK, f"sent to {', '.join(recipients)} ({sent})")
    if step.kind == StepKind.SET_LIFECYCLE_STAGE:
        stage = config["stage"]
        if account.lifecycle_stage == stage:
            return StepResult(StepOutcome.OK, f"already {stage}")
        before = account.lifecycle_stage
        customer_services.account_update(account=account, data={"lifecycle_stage": stage})
        return StepResult(StepOutcome.OK, f"lifecycle stage {before or 'unset'} → {stage}")
    if step.kind == StepKind.ASSIGN_CSM:
        # Lock the step: concurrent runs then see each other's assignments.
        locked_step = PlaybookStep.objects.select_for_update().get(pk=step.pk)
        if account.owner_id is not None:
            return StepResult(StepOutcome.SKIPPED, f"already owned by {account.owner.username}")
        users = _pool_users(locked_step.config)
        if not users:
            return StepResult(StepOutcome.FAILED, "no active user left in the pool")
        user = _pick_from_pool(locked_step, users)
        customer_services.csm_assign(account=account, user=user)
        return StepResult(
            StepOutcome.OK, f"assigned {user.username} ({locked_step.config['strategy']})"
        )
    if step.kind == StepKind.WEBHOOK:
        playbook = run.playbook
        event = run.membership_event
        payload = {
            "delivery": f"{run.id}:{step_run.order}",
            "playbook": {"id": playbook.id, "name": playbook.name, "trigger": playbook.trigger},
            "segment": context["segment"],
            "account": {
                k: context["account"][k]
                for k in ("id", "external_id", "name", "plan", "lifecycle_stage", "arr", "csm")
            },
            "membership_event": (
                {"id": event.id, "kind": event.kind, "at": event.at.isoformat()} if event else None
            ),
            "triggered_at": run.triggered_at.isoformat(),
        }
        attempt = step_run.attempts  # already counted by the caller
        response = steps.webhook_post(
            url=config["url"],
            secret=config["secret"],
            payload=payload,
            delivery=payload["delivery"],
            timeout=config.get("timeout_seconds", steps.WEBHOOK_DEFAULT_TIMEOUT),
        )
        if response.ok:
            return StepResult(StepOutcome.OK, f"{response.detail} (attempt {attempt})")
        max_attempts = config.get("max_attempts", steps.WEBHOOK_DEFAULT_ATTEMPTS)
        if response.retryable and attempt < max_attempts:
            wait = steps.webhook_backoff(attempt)
            return StepResult(
                StepOutcome.RETRYING,
                f"{response.detail} (attempt {attempt} of {max_attempts}; next in {wait} s)",
                retry_in=wait,
            )
        suffix = f" after {attempt} attempts" if response.retryable else " (not retried)"
        return StepResult(StepOutcome.FAILED, response.detail + suffix)
    return StepResult(StepOutcome.FAILED, f"unknown step kind {step.kind!r}")


def playbook_run_execute(*, run_id: int) -> int | None:
    """Execute a run's steps in order; idempotent: steps already ok, skipped or failed
    are not repeated, so a retried or duplicated task does only what is left.

    Each step runs in its own transaction holding its step-run row lock, so its database
    effect (task, stage, assignment) and its outcome commit together, exactly once; a
    duplicate delivery waits for the lock and then sees the outcome. A webhook answering
    5xx / timing out returns the seconds to wait before retrying (the Celery task
    retries with that countdown); the run then stays ``running``. A failed step does not
    stop the following ones; the run ends ``failed`` if any step failed, else ``done``.
    Returns None when the run is finished.
    """
    with transaction.atomic():
        run = (
            PlaybookRun.objects.select_for_update(of=("self",))
            .select_related("playbook__segment", "membership_event")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.SKIPPED):
            return None
        if run.status == RunStatus.PENDING:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
        step_list = list(run.playbook.steps.order_by("order"))
        PlaybookStepRun.objects.bulk_create(
            [PlaybookStepRun(run=run, step=s, order=s.order, kind=s.kind) for s in step_list],
            ignore_conflicts=True,
        )
    step_by_id = {s.pk: s for s in step_list}
    for step_run_id in (
        PlaybookStepRun.objects.filter(run_id=run_id).order_by("order").values_list("id", flat=True)
    ):
        with transaction.atomic():
            step_run = PlaybookStepRun.objects.select_for_update().get(pk=step_run_id)
            if step_run.outcome in (StepOutcome.OK, StepOutcome.SKIPPED, StepOutcome.FAILED):
                continue
            step = step_by_id.get(step_run.step_id)
            now = timezone.now()
            step_run.started_at = step_run.started_at or now
            step_run.attempts += 1
            if step is None:
                result = StepResult(StepOutcome.SKIPPED, "the step was removed from the playbook")
            else:
                try:
                    with transaction.atomic():
                        result = _execute_step(step, run, step_run)
                except (ValidationError, PermissionDenied, KeyError, OSError) as exc:
                    result = StepResult(StepOutcome.FAILED, f"{type(exc).__name__}: {exc}")
            step_run.outcome = result.outcome
            step_run.detail = result.detail[:2000]
            if result.outcome != StepOutcome.RETRYING:
                step_run.finished_at = timezone.now()
            step_run.save(
                update_fields=["outcome", "detail", "attempts", "started_at", "finished_at"]
            )
        if result.retry_in is not None:
            return result.retry_in
    with transaction.atomic():
        failed = PlaybookStepRun.objects.filter(run_id=run_id, outcome=StepOutcome.FAILED).exists()
        PlaybookRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED if failed else RunStatus.DONE,
            finished_at=timezone.now(),
            detail="a step failed" if failed else "",
        )
    return None


# --- Playbooks: dry run -----------------------------------------------------------------------

DRY_RUN_MAX_ACCOUNTS = 100


def playbook_dry_run(*, playbook: Playbook, limit: int = DRY_RUN_MAX_ACCOUNTS) -> dict[str, Any]:
    """What the playbook would do now to the segment's current members (at most ``limit``
    accounts, in name order), changing nothing: per account, each step with its rendered
    title / subject / recipients / assignee / stage / URL, and whether it would be skipped.
    Round robin and load-based assignment are simulated across the listed accounts."""
    today = clock.today()
    members = Membership.objects.filter(segment_id=playbook.segment_id)
    total = members.count()
    accounts = list(
        Account.objects.filter(id__in=members.values("account_id"))
        .select_related("owner")
        .order_by("name", "id")[:limit]
    )
    step_list = list(playbook.steps.order_by("order"))
    pools: dict[int, dict[str, Any]] = {}
    for step in step_list:
        if step.kind == StepKind.ASSIGN_CSM:
            users = _pool_users(step.config)
            books = (
                Account.objects.filter(owner__in=users)
                .values("owner_id")
                .annotate(accounts=Count("id"), arr=Sum("arr"))
            )
            load = {r["owner_id"]: [r["accounts"], r["arr"] or Decimal("0")] for r in books}
            done = PlaybookStepRun.objects.filter(
                step=step, outcome=StepOutcome.OK, detail__startswith="assigned"
            ).count()
            pools[step.pk] = {
                "users": users,
                "load": {u.pk: load.get(u.pk, [0, Decimal("0")]) for u in users},
                "next": done,
            }
    rows = []
    for account in accounts:
        context = steps.template_context(account=account, playbook=playbook, today=today)
        planned = []
        for step in step_list:
            item: dict[str, Any] = {"order": step.order, "kind": step.kind, "would": "run"}
            config = step.config
            if step.kind == StepKind.CREATE_TASK:
                assignee, note = _assignee_for(config, account)
                item.update(
                    title=steps.render(config.get("title", ""), context)[:300],
                    description=steps.render(config.get("description", ""), context),
                    due_date=(today + timedelta(days=config.get("due_in_days", 7))).isoformat(),
                    assignee=assignee.username if assignee else None,
                    note=note,
                )
            elif step.kind == StepKind.SEND_EMAIL:
                recipients = list(config.get("to", []))
                if config.get("to_owner", True) and account.owner and account.owner.email:
                    recipients.insert(0, account.owner.email)
                item.update(
                    subject=steps.render(config.get("subject", ""), context),
                    to=recipients,
                )
                if not recipients:
                    item["would"] = "skip"
            elif step.kind == StepKind.SET_LIFECYCLE_STAGE:
                item.update(stage=config.get("stage"), current=account.lifecycle_stage)
                if account.lifecycle_stage == config.get("stage"):
                    item["would"] = "skip"
            elif step.kind == StepKind.WEBHOOK:
                item.update(url=config.get("url"))
            elif step.kind == StepKind.ASSIGN_CSM:
                pool = pools[step.pk]
                if account.owner_id is not None:
                    item.update(would="skip", note=f"already owned by {account.owner.username}")
                elif not pool["users"]:
                    item.update(would="fail", note="no active user left in the pool")
                else:
                    users, load = pool["users"], pool["load"]
                    strategy = config.get("strategy")
                    if strategy == "round_robin":
                        user = users[pool["next"] % len(users)]
                        pool["next"] += 1
                    elif strategy == "fewest_accounts":
                        user = min(users, key=lambda u: load[u.pk][0])
                    else:
                        user = min(users, key=lambda u: load[u.pk][1])
                    load[user.pk][0] += 1
                    load[user.pk][1] += account.arr
                    item.update(assignee=user.username, strategy=strategy)
            planned.append(item)
        rows.append({"account": {"id": account.id, "name": account.name}, "steps": planned})
    return {
        "playbook": {"id": playbook.id, "name": playbook.name},
        "segment": {"id": playbook.segment_id, "name": playbook.segment.name},
        "members": total,
        "shown": len(rows),
        "accounts": rows,
    }
