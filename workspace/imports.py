"""The accounts CSV import page of the app (managers): upload a file (a dry run first, by
default), read what was created, updated and refused, row by row; download a template;
read every column the import takes. The same service as the admin's upload and the
``import_csv`` command (``customers.csv_import``)."""

import io
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_http_methods

from cs_platform.roles import is_manager
from cs_platform.spreadsheet import csv_writer
from customers.csv_import import csv_import
from customers.models import AttributeDefinition
from customers.services import ACCOUNT_EDITABLE_FIELDS

# Errors listed on the page; the counts always cover the whole file.
MAX_ERRORS_SHOWN = 500


@dataclass(frozen=True)
class ImportColumn:
    name: str
    meaning: str
    example: str = ""


# What each column means, in the order of the template file.
COLUMN_MEANINGS = {
    "external_id": ("Required. The account's id in your CRM: rows are matched on it.", "crm-001"),
    "name": ("Required for a new account. The account's name.", "Acme Corp"),
    "domain": ("The web domain.", "acme.example"),
    "industry": ("Industry (a picklist value, e.g. Technology).", "Technology"),
    "region": ("Region: NA, EMEA, APAC or LATAM (a picklist).", "EMEA"),
    "country": ("Country.", "Germany"),
    "employees": ("Number of employees.", "250"),
    "business_model": ("B2B, B2C or DTC (a picklist).", "B2B"),
    "plan": ("Plan (a picklist: free, starter, pro, enterprise…).", "pro"),
    "lifecycle_stage": ("Lifecycle stage (a picklist).", "adopting"),
    "customer_since": ("Date (YYYY-MM-DD) the account became a customer.", "2024-03-01"),
    "churned_on": ("Date the account churned; empty while a customer.", ""),
    "has_champion": ("yes / no.", "yes"),
    "referenceable": ("yes / no.", "no"),
    "health_score": ("0 to 100.", "72"),
    "last_seen_at": ("Date of last product use.", "2026-11-20"),
    "active_users": ("Active users (a count).", "40"),
    "licensed_seats": ("Licensed seats.", "50"),
    "open_tickets": ("Open support tickets.", "2"),
    "cost_to_serve": ("Yearly cost to serve (money).", "8000.00"),
    "acquisition_cost": ("Money spent to win the account (CAC).", "15000.00"),
    "arr": (
        "The ARR of the account's contract: creates one (from customer_since, else today, to "
        "renewal_date, else the next anniversary) or updates the account's one active "
        "contract. An account with several contracts: use the contracts import.",
        "120000.00",
    ),
    "renewal_date": ("With arr: the contract's end date (YYYY-MM-DD).", "2027-03-01"),
    "csm": ("The owner CSM: a username or an e-mail address.", "jane"),
}


def import_columns() -> list[ImportColumn]:
    """Every column the accounts import takes: the account fields, arr / renewal_date /
    csm, and one ``traits.KEY`` per custom attribute."""
    names = [n for n in ACCOUNT_EDITABLE_FIELDS if n != "traits"] + ["arr", "renewal_date", "csm"]
    order = list(COLUMN_MEANINGS)
    ordered = sorted(names, key=lambda n: order.index(n) if n in order else len(order))
    columns = [
        ImportColumn(n, *COLUMN_MEANINGS.get(n, (n.replace("_", " ").capitalize() + ".", "")))
        for n in ordered
    ]
    for definition in AttributeDefinition.objects.order_by("key"):
        columns.append(
            ImportColumn(
                f"traits.{definition.key}",
                f"{definition.label} (custom attribute, {definition.get_type_display().lower()})",
            )
        )
    return columns


class AccountImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header row.")
    dry_run = forms.BooleanField(
        label="Dry run: check every row and report, write nothing",
        required=False,
        initial=True,
    )

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        limit = settings.ACCOUNT_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"The file is {filesizeformat(upload.size)}; the largest accepted is "
                f"{filesizeformat(limit)}. Split it into smaller files."
            )
        return upload


@require_http_methods(["GET", "POST"])
def account_import_view(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied("Only managers import accounts.")
    report = None
    form = AccountImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with io.TextIOWrapper(form.cleaned_data["file"], encoding="utf-8-sig", newline="") as text:
            report = csv_import(kind="accounts", file=text, dry_run=form.cleaned_data["dry_run"])
    context = {
        "nav": "accounts",
        "form": form,
        "report": report,
        "errors_shown": report.errors[:MAX_ERRORS_SHOWN] if report else [],
        "errors_hidden": max(0, len(report.errors) - MAX_ERRORS_SHOWN) if report else 0,
        "columns": import_columns(),
    }
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "workspace/account_import.html", context, status=status)


@require_GET
def account_import_template_view(request: HttpRequest) -> HttpResponse:
    """A CSV with every column and one example row."""
    if not is_manager(request.user):
        raise PermissionDenied("Only managers import accounts.")
    columns = import_columns()
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow([c.name for c in columns])
    writer.writerow([c.example for c in columns])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="accounts-import-template.csv"'
    return response
