"""The account admin's list actions: each asks what it needs on an intermediate page and
writes through customers.services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from . import services
from .admin_filters import staff_users
from .models import AssignmentRole


class AssignOwnerForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none(), label="New owner")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = staff_users()


@admin.action(description="Assign an owner CSM to the selected accounts", permissions=["change"])
def assign_owner_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Make one user the owner CSM of the selected accounts (the user is asked for first),
    through ``csm_assign`` for each account that changes hands."""
    form = AssignOwnerForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        user = form.cleaned_data["user"]
        assigned = 0
        for account in queryset.only("pk", "owner_id").iterator(chunk_size=500):
            if account.owner_id != user.pk:
                services.csm_assign(account=account, user=user, role=AssignmentRole.OWNER)
                assigned += 1
        model_admin.message_user(
            request, f"{user.username} now owns {assigned} more account(s).", messages.SUCCESS
        )
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Assign an owner CSM",
        "form": form,
        "accounts": queryset[:50],
        "count": queryset.count(),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "opts": model_admin.model._meta,
        "action": "assign_owner_action",
    }
    return TemplateResponse(request, "admin/customers/assign_owner.html", context)
