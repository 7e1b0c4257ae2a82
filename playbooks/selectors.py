"""Reads of the playbooks app; these own the select_related / prefetch_related."""

import zlib
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models import Value as V
from django.db.models.functions import Coalesce

from cs_platform import clock
from cs_platform.db import DaysUntil, dialect
from customers.models import Account

from .models import (
    ChurnReason,
    Playbook,
    PlaybookRun,
    PlaybookStepRun,
    Renewal,
    RenewalForecast,
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
    forecast: str | None = None,
) -> QuerySet[RenewalQueueEntry]:
    """Queue entries with contract, account, window and csm loaded and ``days_left``
    annotated (renewal_date − today), and the renewal's ``forecast`` and ``expected_arr``
    (empty and null when none is set). ``tightest_only`` keeps, per contract, only the
    entry of its smallest window (lists grouped by window show a contract once, under its
    tightest window); overdue entries are always kept. ``forecast`` keeps one forecast
    (``none``: renewals without one)."""
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
    entries = with_forecast(entries)
    if forecast == "none":
        entries = entries.filter(forecast__isnull=True)
    elif forecast is not None:
        entries = entries.filter(forecast=forecast)
    return entries.order_by("renewal_date", "contract_id", "window__days")


def with_forecast(entries: QuerySet[RenewalQueueEntry]) -> QuerySet[RenewalQueueEntry]:
    """``forecast`` and ``expected_arr`` of each entry's renewal (null when none is set),
    one indexed lookup per entry read."""
    renewal = Renewal.objects.filter(contract_id=OuterRef("contract_id")).exclude(forecast="")
    return entries.annotate(
        forecast=Subquery(renewal.values("forecast")[:1]),
        expected_arr=Subquery(renewal.values("expected_arr")[:1]),
    )


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
    "csm__first_name",
    "csm__last_name",
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


# How long my book's renewal figures stay cached: their key names the queue build they were
# read after, so a build makes them unreachable at once; this only bounds the cache's size.
RENEWALS_BY_WINDOW_CACHE_SECONDS = 24 * 3600


def renewal_queue_version() -> int:
    """The id of the latest renewal queue build (0 before the first). Entries are written
    only by ``services.renewals.renewal_queue_rebuild``, which records its build in the
    same transaction (and under the writers' lock, so ids follow commit order): a figure
    read from the queue after build N stays true until build N+1 commits. Changes to
    accounts and contracts request a (debounced) build; a contract or account deleted in
    between drops its entries by cascade, which only that next build's figures count."""
    return RenewalQueueBuild.objects.order_by("-id").values_list("id", flat=True).first() or 0


def renewals_by_window(*, csm: Any | None, today: date | None = None) -> dict[str, Any]:
    """The renewal queue of ``csm`` (everyone when None) grouped by window, each contract
    under its tightest window, plus overdue renewals: counts and ARR at stake and the next
    few renewals.

    Read on every load of my book and written only by a queue build, so the figures and
    the ids of the next renewals are cached per CSM, day, build and windows (two small
    queries); the next renewals' rows are then read by id (one primary-key
    query), so their account names are always current."""
    today = today or clock.today()
    # A window renamed or switched off changes the figures, with no build until the next.
    windows = RenewalWindow.objects.order_by("id").values_list("id", "days", "name", "is_active")
    key = (
        f"playbooks:renewals-by-window:{csm.pk if csm else 'all'}:{today}:"
        f"{renewal_queue_version()}:{zlib.crc32(repr(list(windows)).encode())}"
    )
    figures = cache.get(key)
    if figures is None:
        figures = _renewals_by_window_figures(csm=csm, today=today)
        cache.set(key, figures, RENEWALS_BY_WINDOW_CACHE_SECONDS)
    upcoming = {
        entry.id: entry
        for entry in renewal_queue_rows(today=today).filter(id__in=figures["upcoming_ids"])
    }
    return {
        "windows": figures["windows"],
        "overdue": figures["overdue"],
        "upcoming": [upcoming[pk] for pk in figures["upcoming_ids"] if pk in upcoming],
    }


def _renewals_by_window_figures(*, csm: Any | None, today: date) -> dict[str, Any]:
    """What ``renewals_by_window`` caches: the windows' and overdue counts and ARR (one
    aggregate query) and the ids of the next renewals (one query)."""
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
        "upcoming_ids": list(
            tightest.filter(overdue=False).values_list("id", flat=True)[:UPCOMING_RENEWALS_SHOWN]
        ),
    }


# The forecast categories of the totals, in the order a forecast table reads them.
FORECAST_COLUMNS = [*RenewalForecast.values, "none"]


def renewal_forecast_totals(
    *, csm: Any = None, window_days: int | None = None, today: date | None = None
) -> dict[str, Any]:
    """The open renewals (each contract once, under its tightest window or overdue) by
    CSM and by window: contracts, current ARR and expected ARR, per forecast category
    (``none``: no forecast yet, counted at its current ARR in the expected total). One
    aggregate query; the per-CSM and per-window totals are summed from its rows."""
    entries = renewal_queue_list(today=today, csm=csm, window_days=window_days, tightest_only=True)
    renewal = Renewal.objects.filter(contract_id=OuterRef("contract_id"))
    entries = entries.annotate(
        category=Coalesce(Subquery(renewal.exclude(forecast="").values("forecast")[:1]), V("none")),
        expected=Coalesce(Subquery(renewal.exclude(forecast="").values("expected_arr")[:1]), "arr"),
    )
    zero = Decimal("0")
    aggregates: dict[str, Any] = {
        "contracts": Count("id"),
        "current_arr": Coalesce(Sum("arr"), zero),
        "expected_arr": Coalesce(Sum("expected"), zero),
    }
    for category in FORECAST_COLUMNS:
        chosen = Q(category=category)
        aggregates[f"{category}_n"] = Count("id", filter=chosen)
        aggregates[f"{category}_arr"] = Coalesce(Sum("arr", filter=chosen), zero)
        aggregates[f"{category}_expected"] = Coalesce(Sum("expected", filter=chosen), zero)
    rows = list(
        entries.order_by()
        .values("csm__username", "window__days", "window__name", "overdue")
        .annotate(**aggregates)
        .order_by("csm__username", "-overdue", "window__days")
    )

    def total(group: list[dict[str, Any]], **label: Any) -> dict[str, Any]:
        summed = {key: sum((row[key] for row in group), start=0) for key in aggregates}
        for key in ("current_arr", "expected_arr"):
            summed[key] = Decimal(summed[key])
        return {**label, **summed}

    by_csm: dict[str | None, list] = {}
    by_window: dict[tuple, list] = {}
    for row in rows:
        row["window"] = (
            "Overdue" if row["overdue"] else (row["window__name"] or f"T-{row['window__days']}")
        )
        by_csm.setdefault(row["csm__username"], []).append(row)
        by_window.setdefault((row["overdue"], row["window__days"], row["window"]), []).append(row)
    return {
        "rows": rows,
        "by_csm": [total(group, csm=name) for name, group in by_csm.items()],
        "by_window": [
            total(group, window=key[2], days=key[1], overdue=key[0])
            for key, group in sorted(by_window.items(), key=lambda kv: (not kv[0][0], kv[0][1]))
        ],
        "total": total(rows),
        "columns": FORECAST_COLUMNS,
    }


def renewal_get(*, contract_id: int) -> Renewal | None:
    return (
        Renewal.objects.select_related("forecast_by", "closed_by", "churn_reason", "new_contract")
        .filter(contract_id=contract_id)
        .first()
    )


def renewal_outcome_list(
    *,
    outcome: str | None = None,
    csm_username: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Renewal]:
    """Closed renewals, newest first, with their contract, account and reason loaded."""
    renewals = Renewal.objects.exclude(outcome="").select_related(
        "contract", "contract__account", "contract__account__owner", "churn_reason", "closed_by"
    )
    renewals = _filter_given(
        renewals,
        outcome=outcome,
        contract__account__owner__username=csm_username,
        closed_at__date__gte=since,
        closed_at__date__lte=until,
    )
    return renewals.order_by("-closed_at", "-id")


def churn_reason_list(*, active_only: bool = False) -> QuerySet[ChurnReason]:
    reasons = ChurnReason.objects.order_by("order", "name")
    return reasons.filter(is_active=True) if active_only else reasons


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
    "assignee__first_name",
    "assignee__last_name",
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
