"""HTML pages of the CSM's day: my book, the accounts list (with CSV export) and the
account detail with its segments, explain, tasks, notes and timeline.

These pages compose the three domain apps: they read through selectors (the domain apps'
and this app's own, ``workspace.selectors``) and write through services.
"""

from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cs_platform import clock
from cs_platform.htmx import is_htmx
from cs_platform.roles import can_work_account, is_manager
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.models import Account
from playbooks import selectors as playbook_selectors
from playbooks import services as playbook_services
from playbooks.models import TaskStatus
from segments import selectors as segment_selectors

from . import health, selectors, usage
from .account_tasks import ManualTaskForm
from .columns import COLUMNS, columns_chosen, fields_read
from .export import accounts_csv_lines
from .forms import ACCOUNT_SORTS, USAGE_SORT, AccountFilterForm, NoteForm
from .timeline import account_timeline

User = get_user_model()

ACCOUNTS_PER_PAGE = 50
# The list of every account (no filter) counts the whole table for its total and pager:
# that count is cached this long (docs/csm-day.md). A filtered list (a book, a search, a
# segment) is counted exactly on every load.
EVERY_ACCOUNT_COUNT_SECONDS = 60
# Parameters of the accounts list that choose how rows show, not which rows.
UNFILTERING_PARAMS = frozenset({"sort", "usage"})
# My book shows this many accounts (soonest renewals first) and links to the full list.
BOOK_ACCOUNTS_SHOWN = 25
# My book's accounts table reads only what it shows.
BOOK_COLUMNS = ("id", "name", "arr", "health_score", "renewal_date", "owner__id")


# --- my book -----------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """My book: my accounts, my tasks due, my renewals by window. Managers get the team
    overview and a CSM picker (``?csm=username``) to look at anyone's book."""
    manager = is_manager(request.user)
    subject = request.user
    picked = request.GET.get("csm", "").strip()
    if manager and picked:
        subject = get_object_or_404(User, username=picked)
    today = clock.today()
    metrics = usage.usage_metrics()
    metric = _metric_chosen(metrics, request.GET.get("usage", ""))
    sort = request.GET.get("sort", "") if metric else ""
    book = customer_selectors.csm_book(user=subject).only(*BOOK_COLUMNS)
    if sort in (USAGE_SORT, f"-{USAGE_SORT}"):
        book = usage.accounts_by_usage(
            book, metric=metric, today=today, descending=sort.startswith("-")
        )
    else:
        sort = ""
        book = book.order_by(F("renewal_date").asc(nulls_last=True), "name", "id")
    accounts = list(book[:BOOK_ACCOUNTS_SHOWN])
    _attach_usage_trends(accounts, metric, today)
    health.attach_health(accounts)
    context = {
        "nav": "home",
        "subject": subject,
        "is_self": subject.pk == request.user.pk,
        "today": today,
        "stats": selectors.book_stats(subject, today),
        "account_rows": selectors.accounts_with_segments(accounts),
        "tasks": selectors.task_buckets(request.user, subject, today),
        # A manager's home shows the whole team's renewals; a book shows its own.
        "renewals": playbook_selectors.renewals_by_window(
            csm=None if manager and not picked else subject
        ),
        "is_manager_view": manager,
        "usage_metrics": metrics,
        "usage_metric": metric,
        "sort": sort,
    }
    if manager:
        context["csm_choices"] = customer_selectors.csm_usernames()
        context["picked"] = picked
        if not picked:
            context["team"] = selectors.team_overview(today)
    return render(request, "workspace/home.html", context)


def _metric_chosen(metrics: list[Any], key: str) -> Any:
    return next((metric for metric in metrics if metric.key == key), None) if key else None


def _attach_usage_trends(accounts: list[Account], metric: Any, today: date) -> None:
    """Give each account its ``usage_trend`` of ``metric`` (one query for all of them)."""
    if metric is None:
        return
    trends = usage.usage_trends(account_ids=[a.id for a in accounts], metric=metric, today=today)
    for account in accounts:
        account.usage_trend = trends[account.id]


# --- accounts list and export ---------------------------------------------------------------


def _account_filter_form(request: HttpRequest, metrics: list[Any]) -> AccountFilterForm:
    return AccountFilterForm(
        request.GET or None,
        segment_choices=selectors.segment_choices(),
        csm_choices=customer_selectors.csm_usernames(),
        usage_choices=[(metric.key, metric.label) for metric in metrics],
    )


def _usage_ordered(
    form: AccountFilterForm, accounts: QuerySet[Account], metric: Any
) -> QuerySet[Account] | None:
    """``accounts`` by the usage metric's 30-day sum when that sort is asked and a metric is
    chosen; None otherwise (a column sort)."""
    sort = form.filters().get("sort") or ""
    if metric is None or sort.lstrip("-") != USAGE_SORT:
        return None
    return usage.accounts_by_usage(
        accounts, metric=metric, today=clock.today(), descending=sort.startswith("-")
    )


@require_GET
def account_list_view(request: HttpRequest) -> HttpResponse:
    """The accounts list: a CSM opening it with no filters lands on their own book (the
    "Any CSM" choice, ``?csm=``, lists everyone's)."""
    if not request.GET and not is_manager(request.user):
        return redirect(reverse("account-list") + f"?csm={request.user.get_username()}")
    metrics = usage.usage_metrics()
    form = _account_filter_form(request, metrics)
    metric = _metric_chosen(metrics, form.filters().get("usage", ""))
    columns = columns_chosen(",".join(request.GET.getlist("cols")))
    filtered = selectors.accounts_filtered(form).only(*fields_read(columns))
    accounts = _usage_ordered(form, filtered, metric)
    if accounts is None:
        column, descending = selectors.account_sort(form)
        every_account = not (form.filters().keys() - UNFILTERING_PARAMS)
        accounts = customer_selectors.AccountPages(
            filtered,
            column=column,
            descending=descending,
            cache_key="all" if every_account else "",
            cached_for=EVERY_ACCOUNT_COUNT_SECONDS,
        )
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    _attach_usage_trends(rows, metric, clock.today())
    health.attach_health(rows)
    context = {
        "nav": "accounts",
        "form": form,
        "page": page,
        "account_rows": selectors.accounts_with_segments(rows),
        "sort": (form.cleaned_data.get("sort") if form.is_bound else "") or "name",
        "sort_columns": {key: label for key, (label, _) in ACCOUNT_SORTS.items()},
        "columns": columns,
        "column_keys": [column.key for column in columns],
        "all_columns": list(COLUMNS.values()),
        "usage_metric": metric,
        "csm_choices": customer_selectors.csm_usernames() if is_manager(request.user) else [],
        "static_segments": selectors.static_segment_choices(),
    }
    template = "workspace/_account_results.html" if is_htmx(request) else None
    return render(request, template or "workspace/account_list.html", context)


@require_GET
def account_export_view(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered accounts list as CSV, streamed (memory does not grow with the rows)."""
    metrics = usage.usage_metrics()
    form = _account_filter_form(request, metrics)
    metric = _metric_chosen(metrics, form.filters().get("usage", ""))
    accounts = _usage_ordered(form, selectors.accounts_filtered(form), metric)
    if accounts is None:
        column, descending = selectors.account_sort(form)
        accounts = customer_selectors.accounts_ordered(
            selectors.accounts_filtered(form), column=column, descending=descending
        )
    response = StreamingHttpResponse(
        accounts_csv_lines(accounts), content_type="text/csv; charset=utf-8"
    )
    filename = f"accounts-{clock.today().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- account detail and timeline ----------------------------------------------------------


def _account_or_404(account_id: int) -> Account:
    try:
        # The owners section and the timeline read the assignments themselves.
        return customer_selectors.account_get(account_id=account_id, assignments=False)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


@require_GET
def account_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account_or_404(account_id)
    timeline, more = account_timeline(account=account)
    segments = list(
        segment_selectors.account_segments(account=account)
        .filter(is_active=True)
        .select_related(None)
        .select_related("current_version")
        .only("name", "current_version", "current_version__number")
        .order_by("name", "id")
    )
    tasks = playbook_selectors.task_rows(account_id=account.id).filter(
        status__in=[TaskStatus.OPEN, TaskStatus.SNOOZED]
    )
    can_work = can_work_account(request.user, account)
    context = {
        "nav": "accounts",
        "account": account,
        "can_work": can_work,
        "contracts": list(account.contracts.all()),
        "products": list(customer_selectors.account_products(account=account)),
        "segments": segments,
        "task_rows": [(t, playbook_services.task_can_change(request.user, t)) for t in tasks],
        "timeline": timeline,
        "timeline_more": more,
        "note_form": NoteForm(),
        "task_form": ManualTaskForm(),
        "today": clock.today(),
        "usage_charts": usage.account_usage_charts(account_id=account.id, today=clock.today()),
        **health.account_health_section(account, params=request.GET, can_work=can_work),
    }
    return render(request, "workspace/account_detail.html", context)


@require_GET
def account_timeline_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """A page of the timeline: older entries with ``?before=ISO datetime``, else the newest."""
    account = get_object_or_404(Account.objects.only("id", "owner_id"), pk=account_id)
    before = None
    if raw := request.GET.get("before"):
        try:
            before = datetime.fromisoformat(raw)
        except ValueError:
            return HttpResponseBadRequest("before: expected an ISO date-time.")
        if timezone.is_naive(before):
            before = timezone.make_aware(before)
    timeline, more = account_timeline(account=account, before=before)
    return render(
        request,
        "workspace/_timeline.html",
        {"account": account, "timeline": timeline, "timeline_more": more, "older": bool(before)},
    )


@require_POST
def note_create_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """Add a note or touchpoint; CSMs only on their own accounts (else 403)."""
    account = get_object_or_404(Account, pk=account_id)
    if not can_work_account(request.user, account):
        raise PermissionDenied("Only the account's owner CSM or a manager can add notes here.")
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            customer_services.note_create(
                account=account,
                author=request.user,
                body=form.cleaned_data["body"],
                kind=form.cleaned_data["kind"],
                happened_at=form.cleaned_data["happened_at"],
            )
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
    if form.errors:
        context = {"account": account, "note_form": form, "can_work": True}
        return render(request, "workspace/_note_form.html", context, status=400)
    if is_htmx(request):
        context = {"account": account, "note_form": NoteForm(), "can_work": True, "saved": True}
        response = render(request, "workspace/_note_form.html", context)
        response["HX-Trigger"] = "timelineChanged"
        return response
    messages.success(request, "Note added.")
    return redirect(reverse("account-detail", args=[account.id]) + "#timeline")
