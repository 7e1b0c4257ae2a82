"""The account page's health actions: "what moved the score" between two dates (htmx
partial), and a CSM's manual score (own accounts only; managers any), written by
``health.services.manual_entry_create``."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cs_platform import clock
from cs_platform.htmx import is_htmx
from customers import selectors as customer_selectors
from customers.models import Account
from health import selectors as health_selectors
from health import services as health_services

from .health import ManualScoreForm, changes_dates, manual_measures


def _account(account_id: int) -> Account:
    try:
        return customer_selectors.account_get(account_id=account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


@require_GET
def health_changes_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """What moved the score between ``?from=`` and ``?to=`` (the account page's form)."""
    account = _account(account_id)
    start, end, errors = changes_dates(request.GET, clock.today())
    context = {
        "account": account,
        "health_changes": health_selectors.account_health_changes(account, start, end),
        "health_changes_errors": errors,
        "health_changes_range": {"from": start, "to": end},
    }
    return render(request, "workspace/_health_changes.html", context, status=400 if errors else 200)


@require_POST
def health_manual_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """A manual score for one of the account's manual measures: 400 with the form's errors
    for bad input or for a CSM on another CSM's account (the error names the account, as
    the API's does), nothing stored."""
    account = _account(account_id)
    measures = manual_measures(health_selectors.account_health(account))
    form = ManualScoreForm(request.POST, measures=measures)
    try:
        health_services.manual_entry_check_account(account=account, by=request.user)
    except ValidationError as error:
        form.add_error(None, error.message_dict["account"])
    if form.is_valid():
        try:
            health_services.manual_entry_create(
                account=account,
                measure=form.cleaned_data["measure"],
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
                by=request.user,
            )
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
    if form.errors:
        context = {
            "account": account,
            "health_manual_form": form,
            "health_manual_measures": measures,
            "health_can_enter": True,
        }
        return render(request, "workspace/_health_manual_form.html", context, status=400)
    notice = "Score saved. The health score is recomputed within a minute."
    if is_htmx(request):
        context = {
            "account": account,
            "health_manual_form": ManualScoreForm(measures=measures),
            "health_manual_measures": measures,
            "health_can_enter": True,
            "saved": notice,
        }
        return render(request, "workspace/_health_manual_form.html", context)
    messages.success(request, notice)
    return redirect(reverse("account-detail", args=[account.id]) + "#health")
