"""Reads of the playbooks app; these own the select_related / prefetch_related."""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
)

from cs_platform import clock
from cs_platform.db import DaysUntil, dialect
from customers.models import Account

from .models import (
    Playbook,
    PlaybookRun,
    PlaybookStepRun,
    RenewalQueueBuild,
    RenewalQueueEntry,
    RenewalWindow,
    Task,
    TaskSource,
    TaskStatus,
    TaskStatusChange,
)

# --- Renewals ---------------------------------------------------------------------------------


def _filter_given(queryset: QuerySet, **lookups: Any) -> QuerySet:
    """``queryset`` filtered by each lookup whose value is given (not None)."""
    return queryset.filter(**{name: value for name, value in lookups.items() if value is not None})


def renewal_window_list(*, active_only: bool = True) -> QuerySet[RenewalWindow]:
    windows = RenewalWindow.objects.order_by("-days")
    return windows.filter(is_active=True) if active_only else windows


def renewal_queue_list(
    *,
    today: date | None = None,
    window_days: int | None = None,
    csm: Any = None,
    csm_username: str | None = None,
    overdue: bool | None = None,
    account_id: int | None = None,
    tightest_only: bool = False,
) -> QuerySet[RenewalQueueEntry]:
    """Queue entries with contract, account, window and csm loaded and ``days_left``
    annotated (renewal_date − today). ``tightest_only`` keeps, per contract, only the
    entry of its smallest window (lists grouped by window show a contract once, under its
    tightest window); overdue entries are always kept."""
    today = today or clock.today()
    entries = RenewalQueueEntry.objects.select_related("contract", "account", "window", "csm")
    entries = entries.annotate(days_left=DaysUntil("renewal_date", today))
    entries = _filter_given(
        entries,
        window__days=window_days,
        csm=csm,
        csm__username=csm_username,
        overdue=overdue,
        # Through the contracts (indexed by account; the entries' account copy is not).
        contract__account_id=account_id,
    )
    if tightest_only:
        entries = entries.filter(_tightest_entries(csm))
    return entries.order_by("renewal_date", "contract_id", "window__days")


def _tightest_entries(csm: Any) -> Q:
    """Overdue entries, and each contract's entry of its smallest window (window days are
    unique). ``csm`` (None: everyone) only narrows the contracts looked at: without it the
    whole queue is read on each read of one book."""
    windowed = RenewalQueueEntry.objects.filter(window__isnull=False)
    if csm is not None:
        windowed = windowed.filter(
            contract_id__in=RenewalQueueEntry.objects.filter(csm=csm).values("contract_id")
        )
    if dialect().distinct_on:
        # One DISTINCT ON over the contracts' entries (a sort of a few thousand rows for a
        # book) rather than a NOT EXISTS probe per entry: my book's renewals by window in
        # 3 ms instead of 9-16 ms for a CSM with 3k entries (bench/web.py).
        tightest = (
            windowed.order_by("contract_id", "window__days").distinct("contract_id").values("id")
        )
        return Q(overdue=True) | Q(id__in=tightest)
    tighter = windowed.filter(
        contract_id=OuterRef("contract_id"), window__days__lt=OuterRef("window__days")
    )
    return ~Exists(tighter)


# What a renewal row of the queue page or my book shows.
RENEWAL_ROW_FIELDS = (
    "id",
    "contract",
    "arr",
    "renewal_date",
    "overdue",
    "account__id",
    "account__name",
    "window__id",
    "window__days",
    "window__name",
    "csm__id",
    "csm__username",
)


def renewal_queue_rows(**filters: Any) -> QuerySet[RenewalQueueEntry]:
    """``renewal_queue_list(**filters)`` reading only what a row of the queue shows (no
    contract join, narrow account and user rows)."""
    return (
        renewal_queue_list(**filters)
        .select_related(None)
        .select_related("account", "window", "csm")
        .only(*RENEWAL_ROW_FIELDS)
    )


# My book lists this many of the next renewals under the window table.
UPCOMING_RENEWALS_SHOWN = 8


def renewals_by_window(*, csm: Any | None, today: date | None = None) -> dict[str, Any]:
    """The renewal queue of ``csm`` (everyone when None) grouped by window, each contract
    under its tightest window, plus overdue renewals: counts and ARR at stake (one
    aggregate query) and the next few renewals (one query)."""
    tightest = renewal_queue_rows(today=today, csm=csm, tightest_only=True)
    # Overdue entries have no window, so nothing is tighter: the tightest-only queue keeps
    # them all, and they form their own group here.
    groups = list(
        tightest.order_by()
        .values("overdue", "window__days", "window__name")
        .annotate(contracts=Count("id"), arr=Sum("arr"))
        .order_by("-window__days")
    )
    windows = [g for g in groups if not g["overdue"]]
    overdue = next(
        ({"contracts": g["contracts"], "arr": g["arr"]} for g in groups if g["overdue"]),
        {"contracts": 0, "arr": Decimal("0")},
    )
    return {
        "windows": [
            {
                "days": w["window__days"],
                "name": w["window__name"] or f"T-{w['window__days']}",
                "contracts": w["contracts"],
                "arr": w["arr"],
            }
            for w in windows
        ],
        "overdue": overdue,
        "upcoming": list(tightest.filter(overdue=False)[:UPCOMING_RENEWALS_SHOWN]),
    }


def renewal_queue_last_build() -> RenewalQueueBuild | None:
    return RenewalQueueBuild.objects.order_by("-started_at", "-id").first()


# --- Tasks ------------------------------------------------------------------------------------


def task_list(
    *,
    assignee: Any = None,
    assignee_username: str | None = None,
    status: str | None = None,
    source: str | None = None,
    account_id: int | None = None,
) -> QuerySet[Task]:
    tasks = Task.objects.select_related(
        "account", "account__owner", "assignee", "contract", "window", "playbook_run"
    )
    tasks = _filter_given(
        tasks,
        assignee=assignee,
        assignee__username=assignee_username,
        status=status,
        source=source,
        account_id=account_id,
    )
    return tasks.order_by("due_date", "id")


# What a task row (``playbooks/_task_row.html``) and ``services.task_can_change`` read.
TASK_ROW_FIELDS = (
    "id",
    "title",
    "due_date",
    "status",
    "snoozed_until",
    "account__id",
    "account__name",
    "account__owner_id",
    "assignee__id",
    "assignee__username",
    "window__id",
    "window__days",
    "window__name",
)


def task_rows(**filters: Any) -> QuerySet[Task]:
    """``task_list(**filters)`` reading only what a task row shows: three joins instead of
    six and narrow rows (a seven-table join costs more to plan than to run)."""
    return (
        task_list(**filters)
        .select_related(None)
        .select_related("account", "assignee", "window")
        .only(*TASK_ROW_FIELDS)
    )


def tasks_due(*, user: Any, today: date | None = None) -> QuerySet[Task]:
    """A CSM's open tasks due today or earlier (or without a due date)."""
    today = today or clock.today()
    return task_list(assignee=user, status=TaskStatus.OPEN).filter(
        Q(due_date__lte=today) | Q(due_date__isnull=True)
    )


def task_get(*, task_id: int) -> Task:
    return (
        Task.objects.select_related("account", "account__owner", "assignee", "contract", "window")
        .prefetch_related(
            Prefetch(
                "status_changes",
                queryset=TaskStatusChange.objects.select_related("by").order_by("at", "id"),
            )
        )
        .get(pk=task_id)
    )


def task_status_history(*, task: Task) -> QuerySet[TaskStatusChange]:
    return TaskStatusChange.objects.filter(task=task).select_related("by").order_by("at", "id")


def renewal_tasks_for_contract(*, contract_id: int) -> QuerySet[Task]:
    return task_list(source=TaskSource.RENEWAL).filter(contract_id=contract_id)


# --- Playbooks --------------------------------------------------------------------------------


def playbook_list() -> QuerySet[Playbook]:
    return Playbook.objects.select_related("segment", "fallback_assignee").prefetch_related("steps")


def playbook_get(*, playbook_id: int) -> Playbook:
    return playbook_list().get(pk=playbook_id)


def playbook_run_list(
    *, playbook: Playbook | None = None, account: Account | None = None
) -> QuerySet[PlaybookRun]:
    """Runs with their step outcomes, newest first (for the playbook page and the
    account timeline)."""
    runs = PlaybookRun.objects.select_related(
        "playbook", "playbook__segment", "account", "membership_event"
    ).prefetch_related(Prefetch("step_runs", queryset=PlaybookStepRun.objects.order_by("order")))
    if playbook is not None:
        runs = runs.filter(playbook=playbook)
    if account is not None:
        runs = runs.filter(account=account)
    return runs.order_by("-created_at", "-id")
