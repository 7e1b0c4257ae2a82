"""The admin's CSV upload (``/admin/customers/import/``): accounts or contracts, dry run
first, through the same import service as the ``import_csv`` command."""

import io

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .imports import csv_import
from .roles import is_manager

# Errors listed on the page; the counts always cover the whole file.
MAX_ERRORS_SHOWN = 500


class CSVImportForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("accounts", "Accounts"), ("contracts", "Contracts")], initial="accounts"
    )
    file = forms.FileField(
        help_text="UTF-8 CSV with a header row. Accounts: the fields of /api/accounts/ "
        "(external_id required; custom attributes as traits.KEY). Contracts: "
        "account_external_id, start_date, end_date, arr, status, auto_renew, seats."
    )
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Check every row and report; write nothing."
    )


def csv_import_view(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of accounts or contracts; managers only."""
    if not is_manager(request.user):
        raise PermissionDenied
    report = None
    if request.method == "POST":
        form = CSVImportForm(request.POST, request.FILES)
        if form.is_valid():
            raw = form.cleaned_data["file"].read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text.")
            else:
                report = csv_import(
                    kind=form.cleaned_data["kind"],
                    file=io.StringIO(text, newline=""),
                    dry_run=form.cleaned_data["dry_run"],
                )
    else:
        form = CSVImportForm()
    context = {
        **admin.site.each_context(request),
        "title": "Import CSV",
        "form": form,
        "report": report,
        "errors_shown": report.errors[:MAX_ERRORS_SHOWN] if report else [],
        "errors_hidden": max(0, len(report.errors) - MAX_ERRORS_SHOWN) if report else 0,
    }
    return TemplateResponse(request, "admin/customers/import_csv.html", context)
