"""The admin's CSV upload (``/admin/customers/account/import/``, registered by
``AccountAdmin.get_urls``): accounts or contracts, dry run first, through the same import
service as the ``import_csv`` command."""

import io
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse

from cs_platform.roles import is_manager

from .csv_import import csv_import

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = filesizeformat(settings.ACCOUNT_IMPORT_MAX_BYTES)
        self.fields["file"].help_text += f" At most {limit}."

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        limit = settings.ACCOUNT_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"The file is {filesizeformat(upload.size)}; the largest file accepted is "
                f"{filesizeformat(limit)}. Split it into smaller files."
            )
        return upload


def csv_import_view(request: HttpRequest, *, admin_site: admin.AdminSite) -> HttpResponse:
    """Upload a CSV of accounts or contracts; managers only."""
    if not is_manager(request.user):
        raise PermissionDenied
    report = None
    if request.method == "POST":
        form = CSVImportForm(request.POST, request.FILES)
        if form.is_valid():
            # Decoded as the import reads it, in one pass: the upload is never held whole
            # in memory (a file past the upload handler's memory limit stays on disk).
            with io.TextIOWrapper(
                form.cleaned_data["file"], encoding="utf-8-sig", newline=""
            ) as text:
                report = csv_import(
                    kind=form.cleaned_data["kind"], file=text, dry_run=form.cleaned_data["dry_run"]
                )
    else:
        form = CSVImportForm()
    context = {
        **admin_site.each_context(request),
        "title": "Import CSV",
        "form": form,
        "report": report,
        "errors_shown": report.errors[:MAX_ERRORS_SHOWN] if report else [],
        "errors_hidden": max(0, len(report.errors) - MAX_ERRORS_SHOWN) if report else 0,
    }
    return TemplateResponse(request, "admin/customers/import_csv.html", context)
