"""Health in a real browser (Playwright + Debian's Chromium): a CSM sees the coloured score
badges in their book, opens an account, reads the breakdown and what moved the score, and
enters a manual score with the form (htmx, no reload). Screenshots go to
artifacts/screenshots/."""

import pytest

from health.models import ManualEntry
from workspace.tests.health_world import build_health_world

from .chromium import HAVE_CHROMIUM, NO_CHROMIUM
from .test_ui import log_in

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)]

expect = pytest.importorskip("playwright.sync_api").expect


# ``world`` before ``page``: the page is closed before the database is flushed.
@pytest.fixture
def world(transactional_db, csm, other_csm, manager, today):
    return build_health_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


def test_csm_sees_badges_and_the_breakdown_and_enters_a_manual_score(
    world, live_server, page, screenshot
):
    log_in(page, live_server, "csm")
    red = world.accounts[1]

    # my book: the badge of a red account is red, with its score
    row = page.locator("#book-table tr", has_text=red.name)
    badge = row.locator(".health")
    expect(badge).to_have_text("33 (red)")
    expect(badge).to_have_attribute("data-health-status", "red")
    color = badge.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent")
    screenshot(page, "health-book")

    # the account page: the breakdown, and what moved the score in 30 days
    row.get_by_role("link", name=red.name).click()
    breakdown = page.locator("#health-breakdown")
    expect(breakdown.locator("tr[data-measure=tickets] td").nth(1)).to_have_text("50")
    expect(breakdown.locator("tr[data-measure=tickets] [data-contribution]")).to_have_text("33.33")
    expect(breakdown.locator("tr[data-measure=sentiment]")).to_contain_text("left out")
    expect(page.locator("#health-score-change")).to_have_text("-34")
    chart = page.get_by_role("img", name="Health score from")
    expect(chart).to_be_visible()
    assert chart.locator("circle.health-change").count() == 2
    screenshot(page, "health-account")

    # a manual score through the form: saved without a page load
    form = page.locator("#health-manual-form")
    form.get_by_label("Score (0–100)").fill("120")
    form.get_by_role("button", name="Save score").click()
    expect(page.locator("#health-manual-form")).to_contain_text("less than or equal to 100")
    page.locator("#health-manual-form").get_by_label("Score (0–100)").fill("85")
    page.locator("#health-manual-form").get_by_label("Comment").fill("Good call")
    page.locator("#health-manual-form").get_by_role("button", name="Save score").click()
    expect(page.locator("#health-manual-form [role=status]")).to_contain_text("Score saved")
    assert list(ManualEntry.objects.values_list("account_id", "score", "comment")) == [
        (red.id, 85, "Good call")
    ]
