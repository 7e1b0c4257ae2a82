"""Usage in a real browser (Playwright + Debian's Chromium): a CSM opens an account page and
sees each metric's 90-day chart, then picks a usage metric on the accounts list and sorts
by it. Screenshots go to artifacts/screenshots/."""

from datetime import timedelta

import pytest

from usage.models import DailyUsage, UsageMetric
from workspace.tests.ui_world import build_world

from .chromium import HAVE_CHROMIUM, NO_CHROMIUM
from .test_ui import log_in

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)]

expect = pytest.importorskip("playwright.sync_api").expect


# ``world`` before ``page``: the page is closed before the database is flushed.
@pytest.fixture
def world(transactional_db, csm, other_csm, manager, today):
    world = build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    logins = UsageMetric.objects.create(key="logins", label="Logins", unit="logins")
    DailyUsage.objects.bulk_create(
        DailyUsage(
            account=world.accounts[0],
            metric=logins,
            day=today - timedelta(days=age),
            value=age % 7 + 1,
        )
        for age in range(0, 90, 2)
    )
    DailyUsage.objects.create(account=world.accounts[1], metric=logins, day=today, value=500)
    return world


def test_account_page_shows_the_usage_chart(world, live_server, page, screenshot, today):
    log_in(page, live_server, "csm")
    page.goto(f"{live_server.url}/accounts/{world.accounts[0].id}/")

    section = page.locator("#usage")
    expect(section.get_by_role("heading", name="Product usage, last 90 days")).to_be_visible()
    chart = section.get_by_role("img", name=f"Logins per day, {today - timedelta(days=89)}")
    expect(chart).to_be_visible()
    assert chart.locator("rect.usage-day").count() == 90
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    expect(section.locator(".usage-days-active")).to_have_text("45")
    screenshot(page, "account-usage")

    # The accounts list: pick the metric, sort by it (most active first)
    page.goto(f"{live_server.url}/accounts/?usage=logins")
    page.locator("#usage-column a").click()
    expect(page.locator("#usage-column")).to_have_attribute("aria-sort", "descending")
    first_row = page.locator("#accounts-table tbody tr").first
    expect(first_row).to_contain_text(world.accounts[1].name)
    expect(first_row.locator("svg.sparkline")).to_be_visible()
    screenshot(page, "accounts-usage-column")
