"""The team page for managers: each CSM's book (accounts, ARR), open and overdue tasks,
and what nobody owns yet (accounts without an owner, open tasks without an assignee)."""

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cs_platform import clock
from cs_platform.roles import is_manager
from customers.models import Account
from playbooks.models import Task, TaskStatus

from . import selectors
from .forms import UNASSIGNED


@require_GET
def team_view(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied("The team page is for managers.")
    today = clock.today()
    team = selectors.team_overview(today)
    unowned = Account.objects.filter(owner__isnull=True).aggregate(n=Count("id"), arr=Sum("arr"))
    unassigned_tasks = Task.objects.filter(assignee__isnull=True, status=TaskStatus.OPEN).count()
    totals = {
        "accounts": sum(member.n_accounts for member in team),
        "arr": sum((member.book_arr or 0) for member in team),
        "open": sum(member.n_open for member in team),
        "overdue": sum(member.n_overdue for member in team),
    }
    return render(
        request,
        "workspace/team.html",
        {
            "nav": "team",
            "team": team,
            "totals": totals,
            "unowned": unowned,
            "unassigned_tasks": unassigned_tasks,
            "unassigned": UNASSIGNED,
            "today": today,
        },
    )
