"""HTML pages of the CSM's day: my book, the accounts list (with CSV export) and the
account detail with its segments, explain, tasks, notes and timeline.

These pages are the presentation layer that composes the three domain apps: they read
through selectors and write through services. A few read helpers below (marked "UI read")
cover what no selector offers yet; each is one bounded, set-based query.
"""

import csv
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
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
from playbooks import selectors as playbook_selectors
from playbooks import services as playbook_services
from playbooks.models import Task, TaskStatus, TaskStatusChange
from segments import selectors as segment_selectors
from segments.models import Membership, Segment

from . import selectors, services
from .forms import ACCOUNT_SORTS, UNASSIGNED, AccountFilterForm, NoteForm
from .models import Account, Note
from .roles import CSMS, is_manager

User = get_user_model()

ACCOUNTS_PER_PAGE = 50
# My book shows this many accounts (soonest renewals first) and links to the full list.
BOOK_ACCOUNTS_SHOWN = 25
# Tasks shown per bucket (overdue, today, this week) on my book; the tasks page has all.
BOOK_TASKS_SHOWN = 10
# CSV export reads the filtered accounts in chunks of this many rows (one extra query per
# chunk for their segments), so memory stays flat whatever the size of the export.
CSV_CHUNK = 2000
# The accounts list reads only what it shows (narrow rows sort faster).
LIST_COLUMNS = (
    "id",
    "name",
    "domain",
    "plan",
    "region",
    "lifecycle_stage",
    "arr",
    "health_score",
    "renewal_date",
    "owner_id",
    "owner__username",
)
# My book's accounts table reads only what it shows.
BOOK_COLUMNS = ("id", "name", "arr", "health_score", "renewal_date", "owner__id")
# Timeline entries per page; each source reads at most this many rows per page.
TIMELINE_PAGE = 40


# --- permissions -------------------------------------------------------------------------


def can_work_account(user: Any, account: Account) -> bool:
    """CSMs change only their own book (notes, touchpoints, tasks); managers everything."""
    return is_manager(user) or (account.owner_id is not None and account.owner_id == user.pk)


# --- UI reads ----------------------------------------------------------------------------


def segments_by_account(*, account_ids: Iterable[int]) -> dict[int, list[Segment]]:
    """UI read: the current segments of each of ``account_ids`` (one query)."""
    result: dict[int, list[Segment]] = defaultdict(list)
    rows = (
        Membership.objects.filter(account_id__in=list(account_ids), segment__is_active=True)
        .select_related("segment")
        .only("account_id", "segment__id", "segment__name", "segment__slug")
        .order_by("segment__name")
    )
    for membership in rows:
        result[membership.account_id].append(membership.segment)
    return result


def _with_segments(accounts: list[Account]) -> list[tuple[Account, list[Segment]]]:
    segments = segments_by_account(account_ids=[a.id for a in accounts])
    return [(account, segments.get(account.id, [])) for account in accounts]


def _book_stats(user: Any, today: date) -> dict[str, Any]:
    """UI read: size, ARR and renewals of a CSM's book, in one aggregate query."""
    return selectors.csm_book(user=user).aggregate(
        accounts=Count("id"),
        arr=Coalesce(Sum("arr"), Decimal("0")),
        renewing_90=Count("id", filter=Q(renewal_date__range=(today, today + timedelta(90)))),
        at_risk=Count("id", filter=Q(lifecycle_stage="at_risk") | Q(health_score__lt=40)),
    )


def _task_buckets(viewer: Any, user: Any, today: date) -> dict[str, dict[str, Any]]:
    """UI read: the user's open tasks overdue, due today and due this week: each bucket's
    count (one aggregate query) and its first BOOK_TASKS_SHOWN tasks (one query each),
    with whether ``viewer`` may change them."""
    week_end = today + timedelta(days=7)
    buckets = {
        "overdue": Q(due_date__lt=today),
        "today": Q(due_date=today),
        "week": Q(due_date__gt=today, due_date__lte=week_end),
    }
    tasks = playbook_selectors.task_rows(assignee=user, status=TaskStatus.OPEN)
    counts = tasks.order_by().aggregate(
        **{key: Count("id", filter=condition) for key, condition in buckets.items()}
    )
    result = {}
    for key, condition in buckets.items():
        rows = list(tasks.filter(condition)[:BOOK_TASKS_SHOWN])
        result[key] = {
            "count": counts[key],
            "rows": [(task, playbook_services.task_can_change(viewer, task)) for task in rows],
        }
    return result


def _team_overview(today: date) -> list[Any]:
    """UI read: per CSM, book size, ARR, open and overdue tasks (one query)."""
    open_tasks = Task.objects.filter(assignee=OuterRef("pk"), status=TaskStatus.OPEN).order_by()
    count = Count("id")
    return list(
        User.objects.filter(groups__name=CSMS, is_active=True)
        .annotate(
            n_accounts=Coalesce(
                Subquery(
                    Account.objects.filter(owner=OuterRef("pk"))
                    .order_by()
                    .values("owner")
                    .annotate(n=count)
                    .values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
            book_arr=Subquery(
                Account.objects.filter(owner=OuterRef("pk"))
                .order_by()
                .values("owner")
                .annotate(total=Sum("arr"))
                .values("total")[:1]
            ),
            n_open=Coalesce(
                Subquery(
                    open_tasks.values("assignee").annotate(n=count).values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
            n_overdue=Coalesce(
                Subquery(
                    open_tasks.filter(due_date__lt=today)
                    .values("assignee")
                    .annotate(n=count)
                    .values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
        )
        .order_by("username")
    )


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
    accounts = list(
        selectors.csm_book(user=subject)
        .only(*BOOK_COLUMNS)
        .order_by(F("renewal_date").asc(nulls_last=True), "name", "id")[:BOOK_ACCOUNTS_SHOWN]
    )
    context = {
        "nav": "home",
        "subject": subject,
        "is_self": subject.pk == request.user.pk,
        "today": today,
        "stats": _book_stats(subject, today),
        "account_rows": _with_segments(accounts),
        "tasks": _task_buckets(request.user, subject, today),
        # A manager's home shows the whole team's renewals; a book shows its own.
        "renewals": playbook_selectors.renewals_by_window(
            csm=None if manager and not picked else subject
        ),
        "is_manager_view": manager,
    }
    if manager:
        context["csm_choices"] = selectors.csm_usernames()
        context["picked"] = picked
        if not picked:
            context["team"] = _team_overview(today)
    return render(request, "customers/home.html", context)


# --- accounts list and export ---------------------------------------------------------------


def _account_filter_form(request: HttpRequest) -> AccountFilterForm:
    return AccountFilterForm(
        request.GET or None,
        segment_choices=list(
            Segment.objects.filter(is_active=True).order_by("name").values_list("id", "name")
        ),
        csm_choices=selectors.csm_usernames(),
    )


def _filtered_accounts(form: AccountFilterForm) -> QuerySet[Account]:
    """The accounts the form's valid filters select (unordered: see ``_sort``)."""
    filters = form.filters()
    accounts = selectors.account_list()
    if text := filters.get("q"):
        accounts = accounts.filter(Q(name__icontains=text) | Q(domain__icontains=text))
    for key, column in (("plan", "plan"), ("region", "region"), ("lifecycle", "lifecycle_stage")):
        if key in filters:
            accounts = accounts.filter(**{column: filters[key]})
    if (csm := filters.get("csm")) == UNASSIGNED:
        accounts = accounts.filter(owner__isnull=True)
    elif csm:
        accounts = accounts.filter(owner__username=csm)
    if segment_id := filters.get("segment"):
        accounts = accounts.filter(
            id__in=Membership.objects.filter(segment_id=segment_id).values("account_id")
        )
    renewal = filters.get("renewal")
    today = clock.today()
    if renewal == "overdue":
        accounts = accounts.filter(renewal_date__lt=today)
    elif renewal == "none":
        accounts = accounts.filter(renewal_date__isnull=True)
    elif renewal:
        accounts = accounts.filter(
            renewal_date__range=(today, today + timedelta(days=int(renewal)))
        )
    return accounts


def _sort(form: AccountFilterForm) -> tuple[str, bool]:
    """The requested sort column (an ORM path) and whether it is descending."""
    sort = form.filters().get("sort") or "name"
    return ACCOUNT_SORTS[sort.lstrip("-")][1], sort.startswith("-")


@require_GET
def account_list_view(request: HttpRequest) -> HttpResponse:
    form = _account_filter_form(request)
    column, descending = _sort(form)
    accounts = selectors.AccountPages(
        _filtered_accounts(form).only(*LIST_COLUMNS), column=column, descending=descending
    )
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    context = {
        "nav": "accounts",
        "form": form,
        "page": page,
        "account_rows": _with_segments(rows),
        "sort": (form.cleaned_data.get("sort") if form.is_bound else "") or "name",
        "sort_columns": {key: label for key, (label, _) in ACCOUNT_SORTS.items()},
    }
    template = "customers/_account_results.html" if is_htmx(request) else None
    return render(request, template or "customers/account_list.html", context)


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


CSV_FIELDS = (
    "id",
    "external_id",
    "name",
    "domain",
    "plan",
    "region",
    "industry",
    "lifecycle_stage",
    "arr",
    "renewal_date",
    "health_score",
    "owner__username",
)
CSV_HEADER = (*CSV_FIELDS[:-1], "csm", "segments")


def _segment_names(account_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    rows = (
        Membership.objects.filter(account_id__in=account_ids, segment__is_active=True)
        .order_by("segment__name")
        .values_list("account_id", "segment__name")
    )
    for account_id, name in rows:
        names[account_id].append(name)
    return names


def _csv_rows(accounts: QuerySet[Account]) -> Iterator[list]:
    """Rows of the export, read with a cursor in chunks: memory is bounded by CSV_CHUNK."""
    chunk: list[tuple] = []
    for row in accounts.values_list(*CSV_FIELDS).iterator(chunk_size=CSV_CHUNK):
        chunk.append(row)
        if len(chunk) == CSV_CHUNK:
            yield from _csv_chunk(chunk)
            chunk = []
    if chunk:
        yield from _csv_chunk(chunk)


def _csv_chunk(chunk: list[tuple]) -> Iterator[list]:
    names = _segment_names([row[0] for row in chunk])
    for row in chunk:
        yield [*("" if v is None else v for v in row), "; ".join(names.get(row[0], ()))]


@require_GET
def account_export_view(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered accounts list as CSV, streamed (memory does not grow with the rows)."""
    form = _account_filter_form(request)
    column, descending = _sort(form)
    accounts = selectors.accounts_ordered(
        _filtered_accounts(form), column=column, descending=descending
    )
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_HEADER)
        for row in _csv_rows(accounts):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"accounts-{clock.today().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- account detail and timeline ----------------------------------------------------------


@dataclass(order=True)
class TimelineItem:
    at: datetime
    kind: str = field(compare=False)
    title: str = field(compare=False)
    body: str = field(default="", compare=False)
    actor: str = field(default="", compare=False)
    link: str = field(default="", compare=False)
    steps: list = field(default_factory=list, compare=False)
    tone: str = field(default="", compare=False)


def _timeline_sources(account: Account, before: datetime | None) -> list[list[TimelineItem]]:
    """UI read: the newest TIMELINE_PAGE entries of each source (one or two queries each),
    each list sorted newest first."""
    limit = TIMELINE_PAGE + 1

    def upto(queryset: QuerySet, column: str) -> QuerySet:
        return queryset.filter(**{f"{column}__lt": before}) if before else queryset

    notes = upto(Note.objects.filter(account=account), "happened_at").select_related("author")
    events = upto(segment_selectors.account_events(account=account), "at")
    runs = upto(playbook_selectors.playbook_run_list(account=account), "created_at")
    created = upto(Task.objects.filter(account=account), "created_at").select_related(
        "assignee", "created_by"
    )
    changes = upto(
        TaskStatusChange.objects.filter(task__account=account).exclude(from_status=""), "at"
    ).select_related("task", "by")
    owners = upto(account.assignments.all(), "started_at").select_related("user")

    def name(user: Any) -> str:
        return (user.get_full_name() or user.username) if user else "system"

    sources = [
        [
            TimelineItem(
                at=n.happened_at,
                kind=n.kind,
                title=n.get_kind_display(),
                body=n.body,
                actor=name(n.author),
            )
            for n in notes.order_by("-happened_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=e.at,
                kind="segment",
                title=f"{e.get_kind_display()} segment {e.segment.name}"
                + (f" (v{e.version.number})" if e.version else ""),
                link=reverse("segment-detail", args=[e.segment_id]),
                tone="ok" if e.kind == "entered" else "warn",
            )
            for e in events.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=r.created_at,
                kind="playbook",
                title=f"Playbook {r.playbook.name}: {r.get_status_display().lower()}",
                body=r.detail,
                steps=list(r.step_runs.all()),
                tone="bad" if r.status == "failed" else "",
            )
            for r in runs.order_by("-created_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=t.created_at,
                kind="task",
                title=f"Task created: {t.title}",
                actor=name(t.created_by) if t.created_by_id else t.get_source_display(),
                body=f"For {name(t.assignee)}" + (f", due {t.due_date}" if t.due_date else ""),
            )
            for t in created.order_by("-created_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=c.at,
                kind="task",
                title=f"Task {c.get_to_status_display().lower()}: {c.task.title}",
                actor=name(c.by),
                body=c.note,
                tone="ok" if c.to_status == TaskStatus.DONE else "",
            )
            for c in changes.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=a.started_at,
                kind="owner",
                title=f"{name(a.user)} became {a.get_role_display().lower()}",
            )
            for a in owners.order_by("-started_at", "-id")[:limit]
        ],
    ]
    return sources


def account_timeline(
    *, account: Account, before: datetime | None = None
) -> tuple[list[TimelineItem], bool]:
    """The account's timeline page (newest first) and whether older entries exist. Each
    source is read with its own bounded query and the lists are merged by time."""
    merged = list(heapq.merge(*_timeline_sources(account, before), reverse=True))
    return merged[:TIMELINE_PAGE], len(merged) > TIMELINE_PAGE


def _account_or_404(account_id: int) -> Account:
    try:
        return selectors.account_get(account_id=account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


@require_GET
def account_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account_or_404(account_id)
    timeline, more = account_timeline(account=account)
    segments = list(
        segment_selectors.account_segments(account=account)
        .filter(is_active=True)
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
        "assignments": list(account.assignments.all()),
        "segments": segments,
        "task_rows": [(t, playbook_services.task_can_change(request.user, t)) for t in tasks],
        "timeline": timeline,
        "timeline_more": more,
        "note_form": NoteForm(),
        "today": clock.today(),
    }
    return render(request, "customers/account_detail.html", context)


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
        "customers/_timeline.html",
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
            services.note_create(
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
        return render(request, "customers/_note_form.html", context, status=400)
    if is_htmx(request):
        context = {"account": account, "note_form": NoteForm(), "can_work": True, "saved": True}
        response = render(request, "customers/_note_form.html", context)
        response["HX-Trigger"] = "timelineChanged"
        return response
    messages.success(request, "Note added.")
    return redirect(reverse("account-detail", args=[account.id]) + "#timeline")
