"""A manager assigns and changes an account's owner and adds a secondary CSM from the
account page (htmx, no reload), and the history keeps every assignment (issue 21)."""

import pytest

from customers.models import CSMAssignment
from customers.tests.factories import AccountFactory
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM
from tests.browser.test_ui import assert_accessible_controls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def test_assign_change_and_add_roles_from_the_account_page(
    page, live_server, manager, csm, other_csm, screenshot
):
    account = AccountFactory(name="Acme")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "pw-manager")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    assert "No owner" in page.locator("#current-roles").inner_text()

    def assign(role: str, username: str) -> None:
        page.select_option("#owner-form select[name=role]", role)
        page.select_option("#owner-form select[name=user]", label=username)
        page.click("#owner-form button[type=submit]")

    # When the manager assigns csm as owner, then changes it to other_csm, and adds csm as
    # secondary CSM
    assign("owner", "csm")
    page.locator("#current-roles", has_text="csm — Owner").wait_for()
    assign("owner", "other_csm")
    page.locator("#current-roles", has_text="other_csm — Owner").wait_for()
    assign("secondary", "csm")
    page.locator("#current-roles", has_text="Secondary CSM").wait_for()
    assert_accessible_controls(page)
    screenshot(page, "account-owners")

    # Then the page shows the current roles and the full history, as stored
    current = page.locator("#current-roles").inner_text()
    assert "other_csm — Owner" in current and "csm — Secondary CSM" in current
    assert page.locator("#owner-history li").count() == 3
    account.refresh_from_db()
    assert account.owner == other_csm
    assert CSMAssignment.objects.filter(account=account, ended_at__isnull=False).count() == 1
