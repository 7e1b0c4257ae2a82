"""The CRM import pages of the admin (managers): import profiles, and the import jobs with
an upload page (dry run first), a progress page polled with htmx, and the confirmation
that imports a dry run's file for real. They call the same services as the API."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from cs_platform.json_forms import BoundedJSONAdminMixin
from cs_platform.roles import is_manager

from .import_jobs import import_job_progress
from .import_models import ImportJob, ImportProfile, ImportStatus
from .import_profiles import date_format_problem, profile_columns_problems
from .import_services import import_job_confirm, import_job_create


class ImportProfileForm(forms.ModelForm):
    class Meta:
        model = ImportProfile
        fields = ["name", "label", "description", "date_format", "columns"]

    def clean_columns(self) -> Any:
        columns = self.cleaned_data["columns"]
        if problems := profile_columns_problems(columns):
            raise ValidationError(problems)
        return columns

    def clean_date_format(self) -> str:
        date_format = self.cleaned_data["date_format"]
        if problem := date_format_problem(date_format):
            raise ValidationError(problem)
        return date_format


@admin.register(ImportProfile)
class ImportProfileAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
    form = ImportProfileForm
    list_display = ["name", "label", "date_format", "builtin"]
    readonly_fields = ["builtin"]


class ImportUploadForm(forms.Form):
    profile = forms.ModelChoiceField(queryset=ImportProfile.objects.all(), empty_label=None)
    file = forms.FileField(help_text="The CSV file your CRM exported (UTF-8 or Windows-1252).")
    skip_invalid = forms.BooleanField(
        required=False,
        help_text="Write the valid rows even when some are rejected (download those as CSV).",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.CRM_IMPORT_MAX_BYTES:
            raise ValidationError(
                f"The file is {filesizeformat(upload.size)}; the largest file accepted is "
                f"{filesizeformat(settings.CRM_IMPORT_MAX_BYTES)}."
            )
        return upload


@admin.register(ImportJob)
class ImportJobAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
    list_display = ["id", "original_name", "profile", "dry_run", "status", "created", "updated",
                    "unchanged", "rejected", "created_at"]  # fmt: skip
    list_filter = ["status", "dry_run", "profile"]
    list_select_related = ["profile"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the upload page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="customers_importjob_upload"),
            path("<int:job_id>/progress/", wrap(self.progress_view),
                 name="customers_importjob_progress"),
            path("<int:job_id>/status/", wrap(self.status_view),
                 name="customers_importjob_status"),
            path("<int:job_id>/confirm/", wrap(require_POST(self.confirm_view)),
                 name="customers_importjob_confirm"),
            *super().get_urls(),
        ]  # fmt: skip

    def _check(self, request: HttpRequest) -> None:
        if not is_manager(request.user):
            raise PermissionDenied

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = import_job_create(
                    profile=form.cleaned_data["profile"],
                    upload=form.cleaned_data["file"],
                    dry_run=True,
                    skip_invalid=form.cleaned_data["skip_invalid"],
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error("file", exc.message_dict.get("file", exc.messages))
            else:
                return HttpResponseRedirect(
                    reverse("admin:customers_importjob_progress", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a CRM export",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customers/importjob/upload.html", context)

    def _job_context(self, request: HttpRequest, job_id: int) -> dict[str, Any]:
        job = import_job_progress(
            get_object_or_404(ImportJob.objects.select_related("profile"), pk=job_id)
        )
        return {
            "job": job,
            "finished": job.status in (ImportStatus.DONE, ImportStatus.FAILED),
            "can_confirm": job.dry_run
            and job.status == ImportStatus.DONE
            and (job.created or job.updated)
            and (not job.rejected or job.skip_invalid),
        }

    def progress_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        self._check(request)
        context = {
            **self.admin_site.each_context(request),
            **self._job_context(request, job_id),
            "title": "Import progress",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customers/importjob/progress.html", context)

    def status_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        self._check(request)
        return TemplateResponse(
            request, "admin/customers/importjob/_status.html", self._job_context(request, job_id)
        )

    def confirm_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        self._check(request)
        job = get_object_or_404(ImportJob, pk=job_id, dry_run=True, status=ImportStatus.DONE)
        confirmed = import_job_confirm(job=job, user=request.user)
        messages.info(request, "The import is running.")
        return HttpResponseRedirect(
            reverse("admin:customers_importjob_progress", args=[confirmed.pk])
        )
