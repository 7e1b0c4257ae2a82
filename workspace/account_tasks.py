"""Create a task by hand from an account's page (the owner CSM or a manager): title, due
date, assignee (default the account's owner) and a description, through
``playbooks.services.task_create``."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cs_platform.htmx import is_htmx
from cs_platform.roles import CSMS, MANAGERS
from customers import selectors as customer_selectors
from customers.models import Account
from playbooks import services as playbook_services
from playbooks.models import TaskSource

User = get_user_model()


class ManualTaskForm(forms.Form):
    title = forms.CharField(label="Task", max_length=300)
    due_date = forms.DateField(
        label="Due", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    assignee = forms.ModelChoiceField(
        label="For",
        queryset=User.objects.none(),
        required=False,
        empty_label="The account's owner",
    )
    description = forms.CharField(
        label="Details", required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("prefix", "task")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = (
            User.objects.filter(is_active=True, groups__name__in=[CSMS, MANAGERS])
            .distinct()
            .order_by("username")
        )
        # The options from the cached people list (the same users, in the same order):
        # only a submitted choice is looked up in the queryset.
        assignee = self.fields["assignee"]
        assignee.choices = [
            ("", assignee.empty_label),
            *[(pk, name) for pk, _, name, _ in customer_selectors.people()],
        ]

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("Say what is to be done.")
        return title


@require_POST
def account_task_create_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.select_related("owner"), pk=account_id)
    if not playbook_services.task_can_create(request.user, account):
        raise PermissionDenied("Only the account's owner CSM or a manager can add tasks here.")
    form = ManualTaskForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            task = playbook_services.task_create(
                account=account,
                title=data["title"],
                description=data["description"],
                due_date=data["due_date"],
                assignee=data["assignee"] or account.owner,
                source=TaskSource.MANUAL,
                by=request.user,
            )
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            who = task.assignee.get_full_name() or task.assignee.username if task.assignee else ""
            messages.success(request, f"Task added{f' for {who}' if who else ''}: {task.title}")
            return redirect(reverse("account-detail", args=[account.id]) + "#tasks-h")
    context = {"account": account, "task_form": form, "can_work": True}
    if is_htmx(request):
        return render(request, "workspace/_task_form.html", context, status=400)
    messages.error(
        request,
        "The task was not added: "
        + "; ".join(
            f"{form.fields[n].label if n in form.fields else ''} {' '.join(e)}".strip()
            for n, e in form.errors.items()
        ),
    )
    return redirect(reverse("account-detail", args=[account.id]) + "#tasks-h")
