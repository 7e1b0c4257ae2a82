"""The team page for managers: each CSM's book (accounts, ARR), open and overdue tasks,
and what nobody owns yet (accounts without an owner, open tasks without an assignee).

It opens on the viewer's own team (the CSMs who report to them) when they have one, and
switches to another manager's team or to every CSM; managers add a CSM to their team
(moving them from another one) or take them off it from the page."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cs_platform import clock
from cs_platform.roles import CSMS, MANAGERS, is_manager
from customers.models import Account
from playbooks.models import Task, TaskStatus

from . import selectors
from .forms import UNASSIGNED
from .models import TeamMember

User = get_user_model()

ALL = "all"
MINE = "mine"


def _managers() -> list[Any]:
    return list(
        User.objects.filter(groups__name=MANAGERS, is_active=True).order_by(
            "first_name", "last_name", "username"
        )
    )


def _chosen_team(request: HttpRequest, managers: list[Any]) -> tuple[str, Any]:
    """Which team the page shows: ``(key, manager or None for every CSM)``. ``?team=``
    takes ``mine``, ``all`` or a manager's username; without it, the viewer's own team
    when they have one, every CSM otherwise. An unknown username shows every CSM."""
    wanted = request.GET.get("team", "")
    if wanted == ALL:
        return ALL, None
    if wanted in ("", MINE):
        has_team = TeamMember.objects.filter(manager=request.user).exists()
        if wanted == MINE or has_team:
            return MINE, request.user
        return ALL, None
    manager = next((m for m in managers if m.username == wanted), None)
    if manager is None:
        return ALL, None
    return manager.username, manager


@require_GET
def team_view(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied("The team page is for managers.")
    today = clock.today()
    managers = _managers()
    team_key, team_manager = _chosen_team(request, managers)
    team = selectors.team_overview(today, manager=team_manager)
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
            "team_key": team_key,
            "team_manager": team_manager,
            "managers": managers,
            "totals": totals,
            "unowned": unowned,
            "unassigned_tasks": unassigned_tasks,
            "unassigned": UNASSIGNED,
            "today": today,
        },
    )


class TeamChangeForm(forms.Form):
    csm = forms.ModelChoiceField(
        queryset=User.objects.filter(groups__name=CSMS, is_active=True),
        to_field_name="username",
        error_messages={"invalid_choice": "There is no active CSM with this username."},
    )
    action = forms.ChoiceField(choices=[("add", "Add to my team"), ("remove", "Take off the team")])


def team_member_add(*, csm: Any, manager: Any) -> TeamMember:
    """Put ``csm`` on ``manager``'s team, moving them from the team they were on."""
    if csm.pk == manager.pk:
        raise ValidationError({"csm": ["Nobody is on their own team."]})
    member, _ = TeamMember.objects.update_or_create(user=csm, defaults={"manager": manager})
    return member


def team_member_remove(*, csm: Any) -> None:
    """Take ``csm`` off the team they are on (nothing happens when they are on none)."""
    TeamMember.objects.filter(user=csm).delete()


@require_POST
def team_change_view(request: HttpRequest) -> HttpResponse:
    """Add a CSM to the viewer's team (moving them from another manager's) or take them
    off the team they are on."""
    if not is_manager(request.user):
        raise PermissionDenied("Only managers change teams.")
    form = TeamChangeForm(request.POST)
    errors = form.errors if not form.is_valid() else None
    if errors is None:
        csm = form.cleaned_data["csm"]
        name = csm.get_full_name() or csm.username
        try:
            if form.cleaned_data["action"] == "add":
                team_member_add(csm=csm, manager=request.user)
                messages.success(request, f"{name} is now on your team.")
            else:
                team_member_remove(csm=csm)
                messages.success(request, f"{name} is no longer on a team.")
        except ValidationError as error:
            errors = error.message_dict
    if errors:
        text = "; ".join(f"{field}: {' '.join(e)}" for field, e in errors.items())
        return HttpResponse(f"Team not changed. {text}", status=400, content_type="text/plain")
    back = request.POST.get("team", "")
    return redirect(f"{reverse('team')}?{urlencode({'team': back})}" if back else reverse("team"))
