"""An import end to end with the real broker and a real worker process: the upload is
queued at commit, the worker runs it, the API reports progress until it is done."""

import importlib
import time
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import Account
from customers.tests.api_client import api_client

pytestmark = pytest.mark.redis

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "hubspot-companies.csv"


def test_worker_runs_the_import_and_the_api_follows_it(celery_worker_process, manager):
    importlib.import_module("customers.migrations.0010_builtin_import_profiles").create_profiles(
        apps, None
    )
    client = api_client(manager)
    # Given a HubSpot export, when it is uploaded for a real import
    response = client.post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile("hs.csv", SAMPLE.read_bytes(), content_type="text/csv"),
            "profile": "hubspot-companies",
            "dry_run": "false",
            "skip_invalid": "true",
        },
        format="multipart",
    )
    assert response.status_code == 202
    url = f"/api/imports/{response.json()['id']}/"
    # Then the worker takes it and the job ends done, its rows written
    deadline = time.monotonic() + 60
    while (job := client.get(url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "done", job
    assert (job["rows_total"], job["rows_done"]) == (6, 6)
    # Two owners are unknown here (no such users): with skip_invalid their rows are skipped.
    assert (job["created"], job["rejected"]) == (2, 4)
    assert Account.objects.count() == 2
