"""HTML pages for the work itself: the renewal queue, tasks (complete, snooze, cancel with
htmx, no reload), and playbooks with their runs.

Writes go through playbooks.services; who may change a task is asked of
``services.task_can_change``. A few read helpers below (marked "UI read") cover what no
selector offers yet; each is one bounded, set-based query.
"""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from cs_platform import clock
from cs_platform.htmx import is_htmx, started_param
from cs_platform.roles import is_manager
from customers import selectors as customer_selectors

from . import renewal_health, selectors, services
from .models import (
    Playbook,
    RenewalForecast,
    RenewalQueueBuild,
    RenewalQueueEntry,
    Task,
    TaskSource,
    TaskStatus,
)
from .tasks import renewal_rebuild_request

User = get_user_model()

ROWS_PER_PAGE = 50
RUNS_PER_PAGE = 50
ALL = "__all__"


def _picked_user(request: HttpRequest, param: str) -> tuple[Any | None, str]:
    """The user a list is filtered to: ``?param=username`` or ``__all__``; CSMs default to
    themselves, managers to everyone."""
    raw = request.GET.get(param)
    if raw is None:
        raw = ALL if is_manager(request.user) else request.user.get_username()
    if raw in ("", ALL):
        return None, ALL
    if raw == request.user.get_username():  # a CSM's own list: no second read of the user
        return request.user, raw
    return get_object_or_404(User, username=raw), raw


# --- renewals ----------------------------------------------------------------------------


def _renewal_entries(request: HttpRequest) -> tuple[QuerySet[RenewalQueueEntry], dict]:
    """The queue filtered by ?window= (by default each contract once, under its tightest
    window; ``all`` for every window's entry, days, or ``overdue``), ?csm=, ?q=,
    ?forecast= and ?task= (the renewal task's status, or ``none``), each entry with its
    renewal's current task (the open one, else the latest) and its forecast."""
    csm, csm_value = _picked_user(request, "csm")
    window = request.GET.get("window", "") or "tightest"
    forecast = request.GET.get("forecast", "")
    entries = selectors.renewal_queue_rows(
        today=clock.today(),
        csm=csm,
        window_days=int(window) if window.isdigit() and len(window) < 7 else None,
        overdue=True if window == "overdue" else None,
        tightest_only=window == "tightest",
        forecast=forecast if forecast in (*RenewalForecast.values, "none") else None,
    )
    if text := request.GET.get("q", "").strip():
        entries = entries.filter(account__name__icontains=text)
    renewal_task = Task.objects.filter(
        source=TaskSource.RENEWAL, contract_id=OuterRef("contract_id")
    ).order_by(
        Case(When(status__in=[TaskStatus.OPEN, TaskStatus.SNOOZED], then=0), default=1),
        "-id",
    )
    entries = entries.annotate(
        task_id=Subquery(renewal_task.values("id")[:1]),
        task_status=Subquery(renewal_task.values("status")[:1]),
    )
    task = request.GET.get("task", "")
    if task == "none":
        entries = entries.filter(task_id__isnull=True)
    elif task in TaskStatus.values:
        entries = entries.filter(task_status=task)
    sort = request.GET.get("sort", "")
    sort = sort if sort in renewal_health.SORTS else ""
    entries = renewal_health.renewals_sorted(renewal_health.renewals_with_health(entries), sort)
    filters = {
        "csm": csm_value,
        "window": window,
        "q": request.GET.get("q", ""),
        "task": task,
        "sort": sort,
        "forecast": forecast,
    }
    return entries, filters


@require_GET
def renewal_queue_view(request: HttpRequest) -> HttpResponse:
    entries, filters = _renewal_entries(request)
    totals = entries.order_by().aggregate(
        # Before "arr", whose name would otherwise stand for this aggregate in Sum("arr").
        arr_at_risk=renewal_health.arr_at_risk_total(),
        contracts=Count("contract_id", distinct=True),
        arr=Coalesce(Sum("arr"), Decimal("0")),
        rows=Count("id"),
    )
    paginator = Paginator(entries, ROWS_PER_PAGE)
    # The totals' pass over the filtered queue counted the rows too: no second COUNT(*).
    paginator.count = totals.pop("rows")
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "nav": "renewals",
        "page": page,
        "entries": list(page.object_list),
        "totals": totals,
        "filters": filters,
        "windows": list(selectors.renewal_window_list()),
        "csm_choices": customer_selectors.csm_usernames(),
        "task_statuses": TaskStatus.choices,
        "health_sorts": renewal_health.SORTS,
        "forecasts": RenewalForecast.choices,
        "today": clock.today(),
        "last_build": selectors.renewal_queue_last_build(),
    }
    if started := started_param(request, "rebuild_started"):
        context["rebuild_started"] = started.isoformat()
    template = "playbooks/_renewal_results.html" if is_htmx(request) else None
    return render(request, template or "playbooks/renewal_queue.html", context)


@require_POST
def renewal_rebuild_view(request: HttpRequest) -> HttpResponse:
    """Managers: queue a rebuild of the renewal queue; the page then polls its status."""
    if not is_manager(request.user):
        raise PermissionDenied("Only managers can rebuild the renewal queue.")
    started = timezone.now()
    renewal_rebuild_request()
    context = {"started": started.isoformat(), "done": False}
    if is_htmx(request):
        return render(request, "playbooks/_rebuild_status.html", context)
    messages.info(request, "Renewal queue rebuild started.")
    return redirect(
        reverse("renewal-queue") + "?" + urlencode({"rebuild_started": started.isoformat()})
    )


@require_GET
def renewal_rebuild_status_view(request: HttpRequest) -> HttpResponse:
    """Whether a rebuild started at ``?started=`` has finished (polled by htmx)."""
    started = started_param(request)
    if started is None:
        return JsonResponse({"error": "started: expected an ISO date-time."}, status=400)
    build = (
        RenewalQueueBuild.objects.filter(started_at__gte=started)
        .exclude(finished_at__isnull=True)
        .order_by("-finished_at")
        .first()
    )
    context = {"started": started.isoformat(), "done": build is not None, "build": build}
    response = render(request, "playbooks/_rebuild_status.html", context)
    if build is not None:  # the queue re-reads its rows and totals (htmx)
        response["HX-Trigger"] = "figuresChanged"
    return response


# --- tasks -------------------------------------------------------------------------------


def _task_rows(user: Any, tasks: list[Task]) -> list[tuple[Task, bool]]:
    return [(task, services.task_can_change(user, task)) for task in tasks]


@require_GET
def task_list_view(request: HttpRequest) -> HttpResponse:
    assignee, assignee_value = _picked_user(request, "assignee")
    status = request.GET.get("status", TaskStatus.OPEN)
    source = request.GET.get("source", "")
    due = request.GET.get("due", "")
    window = request.GET.get("window", "")
    today = clock.today()
    tasks = selectors.task_rows(
        assignee=assignee,
        status=status if status in TaskStatus.values else None,
        source=source if source in TaskSource.values else None,
    )
    if window.isdigit():
        tasks = tasks.filter(window__days=int(window))
    if due == "overdue":
        tasks = tasks.filter(due_date__lt=today)
    elif due == "today":
        tasks = tasks.filter(due_date=today)
    elif due == "week":
        tasks = tasks.filter(due_date__range=(today, today + timedelta(days=7)))
    tasks = tasks.order_by(F("due_date").asc(nulls_last=True), "id")
    page = Paginator(tasks, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "nav": "tasks",
        "page": page,
        "rows": _task_rows(request.user, list(page.object_list)),
        "filters": {
            "assignee": assignee_value,
            "status": status,
            "source": source,
            "due": due,
            "window": window,
        },
        "statuses": TaskStatus.choices,
        "sources": TaskSource.choices,
        "windows": list(selectors.renewal_window_list()),
        "csm_choices": customer_selectors.csm_usernames(),
        "today": today,
    }
    template = "playbooks/_task_results.html" if is_htmx(request) else None
    return render(request, template or "playbooks/task_list.html", context)


def _changeable_task(request: HttpRequest, task_id: int) -> Task:
    try:
        task = selectors.task_get(task_id=task_id)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None
    if not services.task_can_change(request.user, task):
        raise PermissionDenied("This task belongs to another CSM's book.")
    return task


def _after_task_change(request: HttpRequest, task: Task, message: str) -> HttpResponse:
    if is_htmx(request):
        task.refresh_from_db()
        context = {"task": task, "can_change": True, "today": clock.today(), "flash": message}
        context["show_account"] = request.POST.get("show_account", "1") == "1"
        context["show_assignee"] = request.POST.get("show_assignee", "0") == "1"
        return render(request, "playbooks/_task_row.html", context)
    messages.success(request, message)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = reverse("task-list")
    return redirect(target)


def _task_error(request: HttpRequest, task: Task, error: ValidationError) -> HttpResponse:
    text = "; ".join(error.messages)
    if is_htmx(request):
        context = {"task": task, "can_change": True, "today": clock.today(), "error": text}
        context["show_account"] = request.POST.get("show_account", "1") == "1"
        context["show_assignee"] = request.POST.get("show_assignee", "0") == "1"
        return render(request, "playbooks/_task_row.html", context, status=400)
    messages.error(request, text)
    return redirect(reverse("task-list"))


def _task_change(request: HttpRequest, task_id: int, change: Callable[[Task], str]) -> HttpResponse:
    """Apply ``change`` (which returns what was done) to a task the user may change; a
    validation error is shown with the task."""
    task = _changeable_task(request, task_id)
    try:
        done = change(task)
    except ValidationError as error:
        return _task_error(request, task, error)
    return _after_task_change(request, task, f"{done}: {task.title}")


def snooze_until(data: Any, task: Task) -> date:
    """The snooze date from the form: ``days`` (1 to 365) counted from the later of today
    and the task's due date (snoozing a task due on the 5th by 3 days gives the 8th), or an
    ``until`` date."""
    days = data.get("days", "")
    if days.isdigit() and 0 < int(days) <= 365:
        start = max(clock.today(), task.due_date or clock.today())
        return start + timedelta(days=int(days))
    try:
        return date.fromisoformat(data.get("until", ""))
    except ValueError:
        raise ValidationError(
            "until: expected a date (YYYY-MM-DD) or days between 1 and 365."
        ) from None


@require_POST
def task_complete_view(request: HttpRequest, task_id: int) -> HttpResponse:
    def complete(task: Task) -> str:
        services.task_complete(task=task, by=request.user)
        return "Done"

    return _task_change(request, task_id, complete)


@require_POST
def task_snooze_view(request: HttpRequest, task_id: int) -> HttpResponse:
    def snooze(task: Task) -> str:
        until = snooze_until(request.POST, task)
        services.task_snooze(task=task, until=until, by=request.user)
        return f"Snoozed until {until:%Y-%m-%d}"

    return _task_change(request, task_id, snooze)


@require_POST
def task_cancel_view(request: HttpRequest, task_id: int) -> HttpResponse:
    def cancel(task: Task) -> str:
        services.task_cancel(task=task, by=request.user)
        return "Cancelled"

    return _task_change(request, task_id, cancel)


# --- playbooks ---------------------------------------------------------------------------


@require_GET
def playbook_list_view(request: HttpRequest) -> HttpResponse:
    playbooks = (
        Playbook.objects.select_related("segment")
        .annotate(
            n_steps=Count("steps", distinct=True),
            n_runs=Count("runs", distinct=True),
            n_failed=Count("runs", filter=Q(runs__status="failed"), distinct=True),
        )
        .order_by("name", "id")
    )
    return render(
        request, "playbooks/playbook_list.html", {"nav": "playbooks", "playbooks": playbooks}
    )


@require_GET
def playbook_detail_view(request: HttpRequest, playbook_id: int) -> HttpResponse:
    try:
        playbook = selectors.playbook_get(playbook_id=playbook_id)
    except Playbook.DoesNotExist:
        raise Http404("No such playbook.") from None
    runs = selectors.playbook_run_list(playbook=playbook)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "nav": "playbooks",
        "playbook": playbook,
        "steps": list(playbook.steps.all()),
        "page": page,
        "runs": list(page.object_list),
        "status_counts": dict(
            runs.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
        ),
    }
    return render(request, "playbooks/playbook_detail.html", context)
