"""HTML pages of one renewal (its forecast and outcome forms) and of the forecast by CSM
and by window. Writes go through ``playbooks.services.forecasts``."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from cs_platform import clock
from cs_platform.roles import is_manager
from customers import selectors as customer_selectors
from customers.models import Contract, ContractStatus

from . import selectors
from .models import ChurnReason, RenewalForecast, RenewalOutcome, Task, TaskSource
from .services import forecasts

User = get_user_model()


class ForecastForm(forms.Form):
    forecast = forms.ChoiceField(choices=RenewalForecast.choices, label="Forecast")
    expected_arr = forms.DecimalField(
        label="Expected ARR",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text="Leave empty for the current ARR (0 for churn).",
    )
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=RenewalOutcome.choices, label="Outcome")
    new_contract = forms.ModelChoiceField(
        queryset=Contract.objects.none(),
        required=False,
        label="Follow-on contract",
        empty_label="Create a new contract",
        help_text="Renewed or downgraded: link a contract already entered, or create one.",
    )
    new_arr = forms.DecimalField(
        label="New ARR",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text="For a new contract (empty: the current ARR).",
    )
    new_end_date = forms.DateField(
        label="New end date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For a new contract (empty: a year after the current end).",
    )
    churn_reason = forms.ModelChoiceField(
        queryset=ChurnReason.objects.none(), required=False, label="Churn reason"
    )
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_contract"].queryset = Contract.objects.filter(
            account_id=contract.account_id, status=ContractStatus.ACTIVE
        ).exclude(pk=contract.pk)
        self.fields["churn_reason"].queryset = selectors.churn_reason_list(active_only=True)


def _form_errors(form: forms.Form, error: ValidationError) -> None:
    for name, errors in error.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@require_http_methods(["GET", "POST"])
def renewal_detail_view(request: HttpRequest, contract_id: int) -> HttpResponse:
    """One renewal: the contract, its place in the queue, its tasks, and (for the owner
    CSM or a manager) the forecast and outcome forms."""
    contract = get_object_or_404(
        Contract.objects.select_related("account", "account__owner"), pk=contract_id
    )
    can_change = forecasts.renewal_can_change(request.user, contract)
    forecast_form = ForecastForm(prefix="f", label_suffix="")
    outcome_form = OutcomeForm(prefix="o", contract=contract, label_suffix="")
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied("Only the account's owner CSM or a manager can do this.")
        action = request.POST.get("action")
        try:
            if action == "forecast":
                forecast_form = ForecastForm(request.POST, prefix="f", label_suffix="")
                if forecast_form.is_valid():
                    data = forecast_form.cleaned_data
                    forecasts.renewal_forecast_set(
                        contract=contract,
                        forecast=data["forecast"],
                        expected_arr=data["expected_arr"],
                        note=data["note"],
                        by=request.user,
                    )
                    messages.success(request, "Forecast saved.")
                    return redirect(reverse("renewal-detail", args=[contract.pk]))
            elif action == "outcome":
                outcome_form = OutcomeForm(
                    request.POST, prefix="o", contract=contract, label_suffix=""
                )
                if outcome_form.is_valid():
                    data = outcome_form.cleaned_data
                    renewal = forecasts.renewal_close(
                        contract=contract,
                        outcome=data["outcome"],
                        churn_reason=data["churn_reason"],
                        new_contract=data["new_contract"],
                        new_arr=data["new_arr"],
                        new_end_date=data["new_end_date"],
                        note=data["note"],
                        by=request.user,
                    )
                    messages.success(
                        request, f"Renewal closed: {renewal.get_outcome_display().lower()}."
                    )
                    return redirect(reverse("renewal-detail", args=[contract.pk]))
        except ValidationError as error:
            _form_errors(forecast_form if action == "forecast" else outcome_form, error)
    renewal = selectors.renewal_get(contract_id=contract.pk)
    if renewal is not None and renewal.forecast and not forecast_form.is_bound:
        forecast_form = ForecastForm(
            prefix="f",
            label_suffix="",
            initial={"forecast": renewal.forecast, "expected_arr": renewal.expected_arr},
        )
    entries = list(
        selectors.renewal_queue_rows(account_id=contract.account_id).filter(contract_id=contract.pk)
    )
    context = {
        "nav": "renewals",
        "contract": contract,
        "account": contract.account,
        "renewal": renewal,
        "changes": list(renewal.changes.select_related("by").order_by("-at", "-id"))
        if renewal
        else [],
        "entries": entries,
        "tasks": list(
            Task.objects.filter(contract=contract, source=TaskSource.RENEWAL)
            .select_related("assignee", "window")
            .order_by("-created_at", "-id")
        ),
        "can_change": can_change,
        "is_open": contract.status == ContractStatus.ACTIVE and not (renewal and renewal.outcome),
        "forecast_form": forecast_form,
        "outcome_form": outcome_form,
        "today": clock.today(),
    }
    status = 400 if forecast_form.errors or outcome_form.errors else 200
    return render(request, "playbooks/renewal_detail.html", context, status=status)


def _window_param(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and int(raw) <= 100_000 else None


@require_GET
def renewal_forecast_view(request: HttpRequest) -> HttpResponse:
    """The forecast of open renewals by CSM and by window, with totals (expected vs current
    ARR); ``?csm=`` narrows to one book, ``?window=`` to one window."""
    csm = None
    picked = request.GET.get("csm", "")
    if picked:
        csm = get_object_or_404(User, username=picked)
    window = _window_param(request.GET.get("window", ""))
    totals = selectors.renewal_forecast_totals(csm=csm, window_days=window)
    context = {
        "nav": "renewals",
        "totals": totals,
        "labels": dict(RenewalForecast.choices) | {"none": "No forecast"},
        "filters": {"csm": picked, "window": "" if window is None else str(window)},
        "windows": list(selectors.renewal_window_list()),
        "csm_choices": customer_selectors.csm_usernames(),
        "is_manager_view": is_manager(request.user),
        "today": clock.today(),
    }
    return render(request, "playbooks/renewal_forecast.html", context)
