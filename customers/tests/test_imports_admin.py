"""The admin's import pages: upload (a dry run), the progress fragment htmx polls, the
confirmation that imports the dry run's file. Jobs run eagerly at commit."""

import importlib

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import Account, ImportJob, ImportProfile

pytestmark = pytest.mark.django_db

CONTENT = b"Record ID,Company name,Number of Employees\nk-1,Acme,10\nk-2,Globex,20\n"


@pytest.fixture(autouse=True)
def builtin_profiles(db) -> None:
    importlib.import_module("customers.migrations.0010_builtin_import_profiles").create_profiles(
        apps, None
    )


def test_upload_dry_run_then_confirm(
    client, manager, eager_tasks, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    hubspot = ImportProfile.objects.get(name="hubspot-companies")
    # Given an uploaded export, when the manager checks it, then a dry run reports
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:customers_importjob_upload"),
            {"profile": hubspot.pk, "file": SimpleUploadedFile("hs.csv", CONTENT)},
        )
    assert response.status_code == 302
    dry_run = ImportJob.objects.get()
    assert dry_run.dry_run and dry_run.status == "done"
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-status="done"' in html and "Would create</th><td>2" in html
    assert "Import these rows" in html
    assert not Account.objects.exists()
    # When they confirm, then the same file is imported
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:customers_importjob_confirm", args=[dry_run.pk]))
    assert response.status_code == 302
    imported = ImportJob.objects.exclude(pk=dry_run.pk).get()
    assert (imported.dry_run, imported.status, imported.created) == (False, "done", 2)
    assert set(Account.objects.values_list("name", flat=True)) == {"Acme", "Globex"}
    fragment = client.get(reverse("admin:customers_importjob_status", args=[imported.pk]))
    assert "hx-get" not in fragment.content.decode()  # finished: polling stops


def test_progress_fragment_polls_while_queued(client, manager):
    client.force_login(manager)
    job = ImportJob.objects.create(
        profile=ImportProfile.objects.get(name="hubspot-companies"),
        file="imports/x.csv",
        rows_total=10,
        rows_done=4,
        status="running",
        phase="checking",
    )
    html = client.get(reverse("admin:customers_importjob_status", args=[job.pk])).content.decode()
    assert "hx-get" in html and 'value="4" max="10"' in html


def test_csm_cannot_open_the_import_pages(client, csm):
    client.force_login(csm)
    response = client.get(reverse("admin:customers_importjob_upload"))
    assert response.status_code in (302, 403)


def test_a_running_import_reports_progress_from_the_cache(manager):
    from django.core.cache import cache

    from customers.import_jobs import import_job_progress, progress_key

    job = ImportJob.objects.create(
        profile=ImportProfile.objects.get(name="hubspot-companies"),
        file="imports/x.csv",
        rows_total=10_000,
        status="running",
        phase="writing",
    )
    cache.set(progress_key(job.pk), 4_000)
    assert import_job_progress(job).rows_done == 4_000
