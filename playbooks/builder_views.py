"""The playbook builder in the app (managers): a playbook's trigger, stability days,
cooldown, fallback assignee and its steps as forms per kind; saved inactive, then a dry run
of what it would do to the segment's current members, and activation asking whether to run
for the current members or only for accounts that enter from now on. Writes go through
``playbooks.services``, the same services as the admin and the API."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from cs_platform.roles import CSMS, MANAGERS, is_manager
from segments.models import Segment

from . import selectors, services
from .builder_steps import (
    StepForm,
    errors_to_forms,
    step_forms_from_config,
    step_forms_from_post,
    step_specs,
    template_variables,
)
from .models import Playbook, PlaybookActivation, PlaybookTrigger, StepKind


class PlaybookSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    segment = forms.ModelChoiceField(queryset=Segment.objects.filter(is_active=True))
    trigger = forms.ChoiceField(choices=PlaybookTrigger.choices)
    stable_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        initial=0,
        label="Stability days",
        help_text="Act only once the account has stayed in (or out) this many days, so "
        "accounts that flap in and out do not create work.",
    )
    reentry_cooldown_days = forms.IntegerField(
        min_value=0,
        max_value=3650,
        initial=0,
        label="Cooldown (days)",
        help_text="Skip an account this playbook ran for within this many days.",
    )
    fallback_assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Nobody (the task stays unassigned)",
        help_text="Gets the owner's tasks of accounts that have no owner.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fallback_assignee"].queryset = (
            get_user_model()
            .objects.filter(Q(groups__name=CSMS) | Q(groups__name=MANAGERS), is_active=True)
            .distinct()
            .order_by("username")
        )


def _require_manager(request: HttpRequest) -> None:
    if not is_manager(request.user):
        raise PermissionDenied("Only managers build playbooks.")


def _playbook_or_404(playbook_id: int) -> Playbook:
    try:
        return selectors.playbook_get(playbook_id=playbook_id)
    except Playbook.DoesNotExist:
        raise Http404("No such playbook.") from None


def _edited_steps(request: HttpRequest) -> tuple[list[StepForm], bool]:
    """The posted steps after the step buttons (add a step of a kind, remove, move up),
    and whether one of them was pressed (then the form is shown again, not saved)."""
    step_forms = step_forms_from_post(request.POST)
    action = request.POST.get("action", "save")
    verb, _, arg = action.partition(":")
    if verb == "add" and arg in StepKind.values:
        step_forms.append(StepForm(index=len(step_forms), kind=arg, values={}))
    elif verb in ("remove", "up") and arg.isdigit() and int(arg) < len(step_forms):
        position = int(arg)
        moved = step_forms.pop(position)
        if verb == "up":
            step_forms.insert(max(position - 1, 0), moved)
    else:
        return step_forms, False
    for index, step_form in enumerate(step_forms):
        step_form.index = index
    return step_forms, True


@require_http_methods(["GET", "POST"])
def playbook_builder_view(request: HttpRequest, playbook_id: int | None = None) -> HttpResponse:
    """Create (saved inactive) or edit a playbook and its steps."""
    _require_manager(request)
    playbook = _playbook_or_404(playbook_id) if playbook_id is not None else None
    status, problems = 200, []
    if request.method == "GET":
        initial = {}
        if playbook is not None:
            initial = {
                "name": playbook.name,
                "description": playbook.description,
                "segment": playbook.segment_id,
                "trigger": playbook.trigger,
                "stable_days": playbook.stable_days,
                "reentry_cooldown_days": playbook.reentry_cooldown_days,
                "fallback_assignee": playbook.fallback_assignee_id,
            }
        else:
            initial = {"segment": request.GET.get("segment") or None}
        form = PlaybookSettingsForm(initial=initial)
        step_forms = step_forms_from_config(list(playbook.steps.all())) if playbook else []
    else:
        form = PlaybookSettingsForm(request.POST)
        step_forms, editing = _edited_steps(request)
        if not editing:
            saved = _save(request, form, step_forms, playbook, problems)
            if saved is not None:
                return saved
            status = 400
    context = {
        "nav": "playbooks",
        "playbook": playbook,
        "form": form,
        "step_forms": step_forms,
        "problems": problems,
        "kinds": StepKind.choices,
        "variables": template_variables(),
    }
    return render(request, "playbooks/builder.html", context, status=status)


def _save(
    request: HttpRequest,
    form: PlaybookSettingsForm,
    step_forms: list[StepForm],
    playbook: Playbook | None,
    problems: list[str],
) -> HttpResponse | None:
    """Save through the services, or fill ``problems`` and the forms' errors."""
    if not form.is_valid():
        return None
    data = dict(form.cleaned_data)
    try:
        if playbook is None:
            playbook = services.playbook_create(
                steps=step_specs(step_forms), by=request.user, is_active=False, **data
            )
            messages.success(
                request, f"{playbook.name} saved (inactive). Dry-run it, then activate it."
            )
        else:
            services.playbook_update(playbook=playbook, data=data, steps=step_specs(step_forms))
            messages.success(request, f"{playbook.name} saved.")
    except ValidationError as error:
        for name, field_messages in error.message_dict.items():
            if name == "steps":
                problems.extend(errors_to_forms(field_messages, step_forms))
            elif name in form.fields:
                for message in field_messages:
                    form.add_error(name, message)
            else:
                problems.extend(field_messages)
        return None
    return redirect("playbook-detail", playbook.pk)


@require_http_methods(["GET"])
def playbook_dry_run_view(request: HttpRequest, playbook_id: int) -> HttpResponse:
    """What the playbook would do now to the segment's current members, with the
    activation form below it."""
    _require_manager(request)
    playbook = _playbook_or_404(playbook_id)
    context = {
        "nav": "playbooks",
        "playbook": playbook,
        "result": services.playbook_dry_run(playbook=playbook),
        "activations": PlaybookActivation.choices,
        "exit_trigger": playbook.trigger == PlaybookTrigger.ON_EXIT,
    }
    return render(request, "playbooks/dry_run.html", context)


@require_POST
def playbook_activate_view(request: HttpRequest, playbook_id: int) -> HttpResponse:
    _require_manager(request)
    playbook = _playbook_or_404(playbook_id)
    choice = request.POST.get("on_activation", "")
    if choice not in PlaybookActivation.values:
        messages.error(
            request,
            "on_activation: choose current members or only accounts that enter from now on.",
        )
        return redirect("playbook-dry-run", playbook.pk)
    try:
        services.playbook_activate(playbook=playbook, on_activation=choice)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
        return redirect("playbook-dry-run", playbook.pk)
    when = (
        "for the current members and"
        if choice == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
        else "only"
    )
    messages.success(request, f"{playbook.name} is active: it runs {when} for accounts that enter.")
    return redirect("playbook-detail", playbook.pk)


@require_POST
def playbook_deactivate_view(request: HttpRequest, playbook_id: int) -> HttpResponse:
    _require_manager(request)
    playbook = _playbook_or_404(playbook_id)
    services.playbook_deactivate(playbook=playbook)
    messages.success(request, f"{playbook.name} is inactive: it starts no new runs.")
    return redirect("playbook-detail", playbook.pk)
