"""Submitting an import (DESIGN section 10): the upload is stored as a queued
``ImportJob`` and ``customers.import_job_run`` runs it after commit (``import_jobs`` holds
what the job does). The API, the admin page and tests all submit through here."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from cs_platform import outbox

from .import_models import ImportJob, ImportProfile
from .tasks import import_job_run_task


def import_job_create(
    *,
    profile: ImportProfile,
    upload: UploadedFile,
    dry_run: bool,
    skip_invalid: bool,
    user: Any = None,
) -> ImportJob:
    """Store the upload as a queued job and run it in the background after commit. An
    oversized file is a ValidationError naming ``file``; nothing is stored."""
    limit = settings.CRM_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            {
                "file": [
                    f"The file is {filesizeformat(upload.size)}; the largest file accepted is "
                    f"{filesizeformat(limit)}. Split it into smaller files."
                ]
            }
        )
    if upload.size == 0:
        raise ValidationError({"file": ["The file is empty."]})
    with transaction.atomic():
        job = ImportJob(
            profile=profile,
            created_by=user if user is not None and user.is_authenticated else None,
            original_name=(upload.name or "upload.csv")[:255],
            dry_run=dry_run,
            skip_invalid=skip_invalid,
        )
        job.file.save(upload.name or "upload.csv", upload, save=False)
        job.save()
        _enqueue(job)
    return job


@transaction.atomic
def import_job_confirm(*, job: ImportJob, user: Any = None) -> ImportJob:
    """The import of a finished dry run's file with the same profile and options."""
    confirmed = ImportJob.objects.create(
        profile=job.profile,
        created_by=user if user is not None and user.is_authenticated else None,
        file=job.file.name,
        original_name=job.original_name,
        dry_run=False,
        skip_invalid=job.skip_invalid,
    )
    _enqueue(confirmed)
    return confirmed


def _enqueue(job: ImportJob) -> None:
    """Record the job's run in the transaction that created it (sent after commit)."""
    outbox.enqueue(import_job_run_task.name, job.pk)
