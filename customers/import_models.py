"""Models of the CRM import (DESIGN section 10): import profiles and import jobs. Imported
by ``customers.models`` so Django finds them; the logic lives in ``import_profiles``,
``import_reading`` and ``import_jobs``."""

from django.conf import settings
from django.db import models


class ImportProfile(models.Model):
    """How the columns of one CRM's export map onto accounts.

    ``columns`` is a list of ``{"column", "target", "values", "keep_if_blank"}``: the
    source column's header, what it fills (an account field, ``traits.KEY``,
    ``contract.FIELD`` or ``owner``), a value map (source value -> stored value) and whether
    a blank cell keeps the existing value (true) or clears it (false). The column whose
    target is ``external_id`` is the upsert key. ``customers.import_profiles`` validates it.
    """

    name = models.SlugField(max_length=100, unique=True)
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    date_format = models.CharField(
        max_length=50, default="%Y-%m-%d", help_text="strptime format of date cells."
    )
    columns = models.JSONField(default=list)
    builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportPhase(models.TextChoices):
    WAITING = "waiting", "Waiting"
    READING = "reading", "Reading the file"
    CHECKING = "checking", "Checking rows"
    WRITING = "writing", "Writing"
    FINISHED = "finished", "Finished"


class ImportJob(models.Model):
    """One upload run (or dry run) through a profile in the background."""

    profile = models.ForeignKey(ImportProfile, on_delete=models.PROTECT, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=True)
    skip_invalid = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    phase = models.CharField(max_length=10, choices=ImportPhase.choices, default="waiting")
    encoding = models.CharField(max_length=20, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    written = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    # The first errors ({row, column, message}) and the first changes (a diff per row);
    # the full list of rejected rows is ``rejected_file``.
    errors = models.JSONField(default=list, blank=True)
    changes = models.JSONField(default=list, blank=True)
    rejected_file = models.FileField(upload_to="imports/rejected/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "import"
        return f"{kind} #{self.pk} of {self.original_name} ({self.status})"

    @property
    def percent_done(self) -> int:
        if self.status == ImportStatus.DONE or self.phase == ImportPhase.FINISHED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
