"""Bulk actions on the accounts and tasks lists' selections (the checkboxes): on accounts,
assign an owner (managers), add to or remove from a static segment, export the selection;
on tasks, complete, snooze, reassign or cancel. Every action goes through the service that
does it for one row, with its permission check; rows the user may not change are skipped
and counted, never half-done: each action runs in one transaction."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cs_platform import clock
from cs_platform.roles import can_work_account, is_manager
from customers import services as customer_services
from customers.models import Account
from playbooks import selectors as playbook_selectors
from playbooks import services as playbook_services
from segments import services as segment_services
from segments.models import Segment

from .export import accounts_csv_lines

User = get_user_model()

# The most rows one bulk action takes (a page shows 50; a bigger selection is refused).
MAX_SELECTED = 500


def _selected_ids(request: HttpRequest) -> list[int]:
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit() and len(i) < 19]
    if not ids:
        raise ValidationError("Select at least one row first.")
    if len(ids) > MAX_SELECTED:
        raise ValidationError(f"Select at most {MAX_SELECTED} rows at a time.")
    return sorted(set(ids))


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = reverse(default)
    return redirect(target)


def _summary(done: int, skipped: int, verb: str, noun: str) -> str:
    text = f"{verb} {done} {noun}{'' if done == 1 else 's'}"
    if skipped:
        text += f"; {skipped} skipped (not yours to change)"
    return text + "."


def _run(request: HttpRequest, default: str, action: Callable[[list[int]], str]) -> HttpResponse:
    try:
        with transaction.atomic():
            messages.success(request, action(_selected_ids(request)))
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return _back(request, default)


# --- accounts -----------------------------------------------------------------------------


def _static_segment(request: HttpRequest) -> Segment:
    raw = request.POST.get("segment", "")
    segment = Segment.objects.filter(pk=int(raw) if raw.isdigit() else 0).first()
    if segment is None or segment.kind != "static":
        raise ValidationError("Pick a static segment.")
    return segment


@require_POST
def account_bulk_view(request: HttpRequest) -> HttpResponse:
    """``action``: ``assign_owner`` (``owner``: a username; managers), ``segment_add`` /
    ``segment_remove`` (``segment``: a static segment's id; managers for any account, a CSM
    for the accounts of their book), or ``export`` (the selection as CSV)."""
    action = request.POST.get("action", "")
    user = request.user
    if action == "export":
        try:
            ids = _selected_ids(request)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            return _back(request, "account-list")
        accounts = Account.objects.filter(id__in=ids).order_by("name", "id")
        response = StreamingHttpResponse(
            accounts_csv_lines(accounts), content_type="text/csv; charset=utf-8"
        )
        name = f"accounts-selection-{clock.today().isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def assign_owner(ids: list[int]) -> str:
        if not is_manager(user):
            raise PermissionDenied("Only managers assign owners.")
        username = request.POST.get("owner", "")
        owner = User.objects.filter(username=username, is_active=True).first()
        if owner is None:
            raise ValidationError("Pick the new owner.")
        accounts = list(Account.objects.filter(id__in=ids).order_by("id"))
        for account in accounts:
            customer_services.csm_assign(account=account, user=owner)
        return (
            f"{len(accounts)} account{'s' if len(accounts) != 1 else ''} now owned by "
            + (owner.get_full_name() or owner.username)
            + "."
        )

    def change_segment(ids: list[int]) -> str:
        segment = _static_segment(request)
        allowed = [
            a.id
            for a in Account.objects.filter(id__in=ids).only("id", "owner_id")
            if can_work_account(user, a)
        ]
        if action == "segment_add":
            changed = segment_services.static_segment_members_add(
                segment=segment, account_ids=allowed
            )
            verb = f"Added to {segment.name}:"
        else:
            changed = segment_services.static_segment_members_remove(
                segment=segment, account_ids=allowed
            )
            verb = f"Removed from {segment.name}:"
        text = f"{verb} {changed} account{'s' if changed != 1 else ''}"
        skipped = len(ids) - len(allowed)
        if skipped:
            text += f"; {skipped} skipped (not in your book)"
        return text + "."

    actions = {
        "assign_owner": assign_owner,
        "segment_add": change_segment,
        "segment_remove": change_segment,
    }
    if action not in actions:
        messages.error(request, "Pick an action.")
        return _back(request, "account-list")
    return _run(request, "account-list", actions[action])


# --- tasks -----------------------------------------------------------------------------------


@require_POST
def task_bulk_view(request: HttpRequest) -> HttpResponse:
    """``action``: ``complete``, ``snooze`` (``days``, counted for each task from the later
    of today and its due date), ``reassign`` (``assignee``: a username) or ``cancel``."""
    action = request.POST.get("action", "")
    user = request.user

    def apply(ids: list[int]) -> str:
        tasks = list(playbook_selectors.task_list().filter(id__in=ids))
        mine = [t for t in tasks if t.is_open and playbook_services.task_can_change(user, t)]
        skipped = len(ids) - len(mine)
        if action == "complete":
            for task in mine:
                playbook_services.task_complete(task=task, by=user)
            return _summary(len(mine), skipped, "Completed", "task")
        if action == "cancel":
            for task in mine:
                playbook_services.task_cancel(task=task, by=user)
            return _summary(len(mine), skipped, "Cancelled", "task")
        if action == "snooze":
            days = request.POST.get("days", "")
            if not (days.isdigit() and 0 < int(days) <= 365):
                raise ValidationError("Snooze for 1 to 365 days.")
            today = clock.today()
            for task in mine:
                start = max(today, task.due_date or today)
                playbook_services.task_snooze(
                    task=task, until=start + timedelta(days=int(days)), by=user
                )
            return _summary(len(mine), skipped, "Snoozed", "task")
        if action == "reassign":
            assignee = User.objects.filter(
                username=request.POST.get("assignee", ""), is_active=True
            ).first()
            if assignee is None:
                raise ValidationError("Pick who takes the tasks.")
            for task in mine:
                playbook_services.task_update(task=task, data={"assignee": assignee}, by=user)
            name = assignee.get_full_name() or assignee.username
            return _summary(len(mine), skipped, f"Gave {name}", "task")
        raise ValidationError("Pick an action.")

    return _run(request, "task-list", apply)
