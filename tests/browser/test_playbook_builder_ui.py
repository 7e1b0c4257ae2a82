"""A manager builds a playbook in the app (steps as forms), dry-runs it and activates it
for the current members; its runs and outcomes then show on its page (issue 21)."""

from datetime import UTC, datetime

import pytest

from customers.tests.factories import AccountFactory
from playbooks.models import Playbook, Task
from playbooks.tests.factories import SegmentFactory
from segments.models import Membership
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM
from tests.browser.test_ui import assert_accessible_controls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def test_build_dry_run_and_activate_a_playbook(page, live_server, manager, eager_tasks, screenshot):
    # Given a segment with two members, one of them without an owner
    segment = SegmentFactory(name="Onboarding")
    for name, owner in (("Acme", manager), ("Orphan Inc", None)):
        account = AccountFactory(name=name, owner=owner)
        Membership.objects.create(
            segment=segment, account=account, entered_at=datetime(2026, 11, 1, tzinfo=UTC)
        )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "pw-manager")
    page.click("button[type=submit]")

    # When the manager builds a playbook from the playbooks page
    page.goto(f"{live_server.url}/playbooks/")
    page.click("text=New playbook")
    page.fill("#id_name", "Kick-off")
    page.select_option("#id_segment", label="Onboarding")
    page.select_option("#id_fallback_assignee", label="manager")
    page.click("button[value='add:create_task']")
    page.fill("#id_step-0-title", "Kick-off call with {{ account.name }}")
    page.fill("#id_step-0-due_in_days", "5")
    page.click("button[value='add:set_lifecycle_stage']")
    page.select_option("#id_step-1-stage", "onboarding")
    assert page.locator("#step-0 details summary").inner_text() == "Template fields you can use"
    assert_accessible_controls(page)
    screenshot(page, "playbook-builder")
    page.click("#save-playbook")

    # Then it is saved inactive, and says so
    page.wait_for_url("**/playbooks/*/")
    assert "inactive" in page.locator("#playbook-status").inner_text()

    # When they dry-run it
    page.click("#dry-run-link")
    page.wait_for_url("**/dry-run/")
    table = page.locator("#dry-run-table").inner_text()
    assert "Kick-off call with Acme" in table and "Kick-off call with Orphan Inc" in table
    assert "fallback assignee" in table
    assert not Task.objects.exists()
    screenshot(page, "playbook-dry-run")

    # and activate it for the current members
    page.check("input[value='run_for_current_members']")
    page.click("#activate-button")
    page.wait_for_url("**/playbooks/*/")

    # Then it is active, it ran for both members, and the runs show their outcomes
    assert "active" in page.locator("#playbook-status").inner_text()
    playbook = Playbook.objects.get(name="Kick-off")
    assert playbook.is_active
    tasks = {t.account.name: t for t in Task.objects.select_related("account", "assignee")}
    assert set(tasks) == {"Acme", "Orphan Inc"}
    assert tasks["Orphan Inc"].assignee == manager  # the fallback assignee
    page.reload()
    runs = page.locator("#runs-h + p + .table-wrap, section[aria-labelledby='runs-h']").first
    assert "Orphan Inc" in runs.inner_text()
    assert "went to the fallback assignee" in runs.inner_text()
