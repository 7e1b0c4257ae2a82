"""A manager imports a HubSpot export in the admin: uploads it, watches the dry run's
progress bar finish, confirms, watches the import finish and reads the result. With a
Redis broker the jobs run in a real worker process; otherwise eagerly at commit."""

import importlib

import pytest
from django.apps import apps

from conftest import redis_reachable
from customers.models import Account

from .chromium import HAVE_CHROMIUM, NO_CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)]

expect = pytest.importorskip("playwright.sync_api").expect

ROWS = 3_000


@pytest.fixture
def export_file(tmp_path):
    path = tmp_path / "hubspot-companies.csv"
    lines = ["Record ID,Company name,Industry,Number of Employees,Lifecycle Stage"]
    lines += [f"{9000 + i},Company {i},Computer Software,{10 + i},Customer" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def jobs_run(request, transactional_db):
    """A real worker when Redis is there, else eager tasks."""
    importlib.import_module("customers.migrations.0010_builtin_import_profiles").create_profiles(
        apps, None
    )
    fixture = "celery_worker_process" if redis_reachable() else "eager_tasks"
    return request.getfixturevalue(fixture)


def test_manager_imports_a_hubspot_export(
    jobs_run, manager, export_file, live_server, page, screenshot
):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/customers/importjob/upload/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-manager")
    page.get_by_role("button", name="Log in").click()
    # Given the upload page, when the manager uploads the export with the HubSpot profile
    page.locator("#id_profile").select_option(label="HubSpot companies export")
    page.locator("#id_file").set_input_files(str(export_file))
    page.get_by_role("button", name="Check the file (dry run)").click()
    # Then the dry run's progress bar fills and the result says what would change
    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#import-progress")).to_have_attribute("value", str(ROWS))
    expect(page.locator("#import-counts")).to_contain_text(f"Would create{ROWS}")
    expect(page.locator("#import-message")).to_have_text("Dry run: nothing was written.")
    assert not Account.objects.exists()
    screenshot(page, "import-dry-run")
    # When they confirm, then the import runs to the end and reports what it wrote
    page.get_by_role("button", name="Import these rows").click()
    expect(status).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#import-message")).to_contain_text(f"Imported: {ROWS} created")
    expect(page.locator("#import-progress")).to_have_attribute("value", str(ROWS))
    screenshot(page, "import-done")
    assert Account.objects.count() == ROWS
