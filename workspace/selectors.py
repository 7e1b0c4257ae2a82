"""Reads for the workspace pages that no domain selector offers: each is one bounded,
set-based query over the domain apps' tables."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber

from cs_platform import clock
from cs_platform.roles import CSMS
from customers import selectors as customer_selectors
from customers.models import Account
from health.models import HealthStatus
from playbooks import selectors as playbook_selectors
from playbooks import services as playbook_services
from playbooks.models import Task, TaskStatus
from segments.models import Membership, Segment

from .forms import ACCOUNT_SORTS, NOT_SCORED, UNASSIGNED, AccountFilterForm

User = get_user_model()

# Tasks shown per bucket (overdue, today, this week) on my book; the tasks page has all.
BOOK_TASKS_SHOWN = 10


def segments_by_account(*, account_ids: Iterable[int]) -> dict[int, list[Segment]]:
    """The current segments of each of ``account_ids`` (one query)."""
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


def accounts_with_segments(accounts: list[Account]) -> list[tuple[Account, list[Segment]]]:
    segments = segments_by_account(account_ids=[a.id for a in accounts])
    return [(account, segments.get(account.id, [])) for account in accounts]


def book_stats(user: Any, today: date) -> dict[str, Any]:
    """Size, ARR and renewals of a CSM's book, in one aggregate query. At risk: the
    lifecycle stage says so, or the computed health status is red (what the badges show,
    by each account's scorecard's own thresholds)."""
    return customer_selectors.csm_book(user=user).aggregate(
        accounts=Count("id"),
        arr=Coalesce(Sum("arr"), Decimal("0")),
        renewing_90=Count("id", filter=Q(renewal_date__range=(today, today + timedelta(90)))),
        at_risk=Count(
            "id", filter=Q(lifecycle_stage="at_risk") | Q(health__status=HealthStatus.RED)
        ),
    )


def task_buckets(viewer: Any, user: Any, today: date) -> dict[str, dict[str, Any]]:
    """The user's open tasks overdue, due today and due this week: each bucket's count and
    its first BOOK_TASKS_SHOWN tasks (by due date), with whether ``viewer`` may change
    them. Two queries: the open tasks due by the week's end, each with its bucket, its
    place in the bucket and the bucket's size (window functions over the tasks alone),
    keeping the first places; then those few tasks' rows."""
    week_end = today + timedelta(days=7)
    bucket = Case(
        When(due_date__lt=today, then=Value("overdue")),
        When(due_date=today, then=Value("today")),
        default=Value("week"),
        output_field=CharField(),
    )
    shown = (
        Task.objects.filter(assignee=user, status=TaskStatus.OPEN, due_date__lte=week_end)
        .annotate(
            bucket=bucket,
            place=Window(RowNumber(), partition_by=[bucket], order_by=["due_date", "id"]),
            bucket_size=Window(Count("id"), partition_by=[bucket]),
        )
        .filter(place__lte=BOOK_TASKS_SHOWN)
        .values_list("id", "bucket", "bucket_size")
    )
    result: dict[str, dict[str, Any]] = {
        key: {"count": 0, "rows": []} for key in ("overdue", "today", "week")
    }
    buckets = {}
    for task_id, key, size in shown:
        buckets[task_id] = key
        result[key]["count"] = size
    if buckets:
        rows = playbook_selectors.task_rows(assignee=user).filter(id__in=list(buckets))
        for task in rows:
            result[buckets[task.id]]["rows"].append(
                (task, playbook_services.task_can_change(viewer, task))
            )
    return result


def team_overview(today: date, *, manager: Any = None) -> list[Any]:
    """Per CSM (of ``manager``'s team, or every CSM), book size, ARR, open and overdue
    tasks and their manager (one query)."""
    csms = User.objects.filter(groups__name=CSMS, is_active=True)
    if manager is not None:
        csms = csms.filter(team_membership__manager=manager)
    open_tasks = Task.objects.filter(assignee=OuterRef("pk"), status=TaskStatus.OPEN).order_by()
    count = Count("id")
    return list(
        csms.select_related("team_membership__manager")
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


# --- the accounts list's filters and sort ----------------------------------------------------


def static_segment_choices() -> list[tuple[int, str]]:
    """The active static segments, for the accounts list's "add to / remove from" actions."""
    return list(
        Segment.objects.filter(is_active=True, kind="static")
        .order_by("name")
        .values_list("id", "name")
    )


def segment_choices() -> list[tuple[int, str]]:
    """The active segments, for the accounts list's segment filter."""
    return list(Segment.objects.filter(is_active=True).order_by("name").values_list("id", "name"))


def accounts_filtered(form: AccountFilterForm) -> QuerySet[Account]:
    """The accounts the form's valid filters select (unordered: see ``account_sort``)."""
    filters = form.filters()
    accounts = customer_selectors.account_list()
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
    if (health := filters.get("health")) == NOT_SCORED:
        accounts = accounts.filter(Q(health__isnull=True) | Q(health__status__isnull=True))
    elif health:
        accounts = accounts.filter(health__status=health)
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


def account_sort(form: AccountFilterForm) -> tuple[str, bool]:
    """The requested sort column (an ORM path) and whether it is descending; by name for a
    sort that is not a column (usage: see ``workspace.usage.accounts_by_usage``)."""
    sort = form.filters().get("sort") or "name"
    if sort.lstrip("-") not in ACCOUNT_SORTS:
        return ACCOUNT_SORTS["name"][1], False
    return ACCOUNT_SORTS[sort.lstrip("-")][1], sort.startswith("-")
