"""The analytics page in a real Chromium: its three sections, their charts, and a section's
own form that changes that section only."""

import pytest

from segments.tests.analytics_fixtures import enterprise_fixture
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def test_manager_reads_the_page_and_moves_the_overlap_to_a_past_date(
    page, live_server, manager, today, settings
):
    # Given the enterprise fixture (7 members today) and a manager signed in
    settings.CS_ANALYTICS_CACHE_SECONDS = 0
    enterprise = enterprise_fixture()["segment"]
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "pw-manager")
    page.click("input[type=submit]")

    # When they open the analytics page
    page.goto(f"{live_server.url}/analytics/")

    # Then every section shows, with its charts drawn on the server
    assert enterprise.name in page.locator("#compare-table").inner_text()
    assert page.locator("#compare svg").count() >= 1
    assert page.locator("#overlap-table").is_visible()
    assert page.locator("#cohorts figure svg").count() == 2
    page.click("#cohorts summary")  # the cohorts as a table, folded under the charts
    assert page.locator("#cohort-table").is_visible()

    # When they ask for the overlap as of a past date
    page.fill("#overlap input[name='overlap-as_of']", "2026-04-01")
    page.click("#overlap button[type=submit]")
    page.wait_for_url("**overlap-as_of=2026-04-01**")

    # Then the page answers for that date, and the compare section stays as of today
    assert page.locator("#overlap input[name='overlap-as_of']").input_value() == "2026-04-01"
    assert enterprise.name in page.locator("#compare-table").inner_text()
    assert page.locator("#in-none").is_visible()
