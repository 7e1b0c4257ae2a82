"""Who works an account, from its page: managers assign or change the owner and add or end
the secondary CSM and executive sponsor roles; everyone sees the current holders and the
history. Writes go through ``customers.services`` (``csm_assign``, ``csm_unassign``), the
same services as the API and the admin."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cs_platform.htmx import is_htmx
from cs_platform.roles import CSMS, MANAGERS, is_manager
from customers import services as customer_services
from customers.models import Account, AssignmentRole, CSMAssignment

User = get_user_model()


def assignable_users() -> QuerySet:
    """The active users in a role (CSMs and managers), by name."""
    return (
        User.objects.filter(Q(groups__name=CSMS) | Q(groups__name=MANAGERS), is_active=True)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class _UserChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class OwnerAssignForm(forms.Form):
    role = forms.ChoiceField(choices=AssignmentRole.choices, initial=AssignmentRole.OWNER)
    user = _UserChoice(queryset=User.objects.none(), label="Person", empty_label="Pick a person")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = assignable_users()


class OwnerEndForm(forms.Form):
    assignment = forms.IntegerField()


def owners_context(*, account: Account, viewer: Any, form: OwnerAssignForm | None = None) -> dict:
    """What the owners section shows: current holders per role, the history (newest
    first) and, for managers, the assign form."""
    history = list(
        CSMAssignment.objects.filter(account=account)
        .select_related("user")
        .order_by("-started_at", "-id")
    )
    current = [a for a in history if a.ended_at is None]
    order = {role: n for n, role in enumerate(AssignmentRole.values)}
    current.sort(key=lambda a: (order.get(a.role, 9), a.started_at))
    return {
        "account": account,
        "current": current,
        "history": history,
        "can_assign": is_manager(viewer),
        "owner_form": form or OwnerAssignForm(),
    }


def _section(
    request: HttpRequest, account: Account, form: OwnerAssignForm | None = None, status: int = 200
) -> HttpResponse:
    context = owners_context(account=account, viewer=request.user, form=form)
    return render(request, "workspace/_owners.html", context, status=status)


def _done(request: HttpRequest, account: Account, message: str) -> HttpResponse:
    if is_htmx(request):
        response = _section(request, Account.objects.select_related("owner").get(pk=account.pk))
        response["HX-Trigger"] = "timelineChanged"
        return response
    messages.success(request, message)
    return redirect(f"{reverse('account-detail', args=[account.pk])}#owners")


@require_POST
def account_owner_assign_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """Assign ``user`` to ``role`` on the account (for the owner: change it; the previous
    owner's assignment is closed and kept in the history)."""
    if not is_manager(request.user):
        raise PermissionDenied("Only managers assign accounts.")
    account = get_object_or_404(Account, pk=account_id)
    form = OwnerAssignForm(request.POST)
    if not form.is_valid():
        return _section(request, account, form=form, status=400)
    user, role = form.cleaned_data["user"], form.cleaned_data["role"]
    try:
        customer_services.csm_assign(account=account, user=user, role=role)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _section(request, account, form=form, status=400)
    label = AssignmentRole(role).label.lower()
    return _done(request, account, f"{user.get_full_name() or user.username} is now {label}.")


@require_POST
def account_owner_end_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """End one current assignment (it stays in the history)."""
    if not is_manager(request.user):
        raise PermissionDenied("Only managers assign accounts.")
    account = get_object_or_404(Account, pk=account_id)
    form = OwnerEndForm(request.POST)
    if not form.is_valid():
        return _section(request, account, status=400)
    assignment = get_object_or_404(
        CSMAssignment, pk=form.cleaned_data["assignment"], account=account, ended_at__isnull=True
    )
    customer_services.csm_unassign(account=account, role=assignment.role, user=assignment.user)
    return _done(
        request,
        account,
        f"{assignment.user.username} is no longer {assignment.get_role_display().lower()}.",
    )
