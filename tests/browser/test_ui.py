"""The UI in a real browser (Playwright + Debian's Chromium) against a live server.

A CSM logs in, sees their book, opens an account, reads an explain, completes a task with
the keyboard, adds a note and filters the renewal queue. A manager publishes a new
segment version from the rule editor and sees the members change: Celery runs eagerly in
this test (``eager_tasks``), so the recompute queued by the publish service runs the real
``segment_recompute`` service in-process when the publish commits.
Screenshots of the main pages go to artifacts/screenshots/.
"""

import json
import re

import pytest

from playbooks.models import TaskStatus
from segments.models import Membership
from workspace.tests.ui_world import build_world

from .chromium import HAVE_CHROMIUM, NO_CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)]

expect = pytest.importorskip("playwright.sync_api").expect


# Tests ask for ``world`` before ``page``: the page (and any request it still has in flight)
# is closed before the database is flushed.
@pytest.fixture
def world(transactional_db, csm, other_csm, manager, today):
    return build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_be_visible()


UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]'
)).filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !(el.textContent || '').trim()).map(el => el.outerHTML.slice(0, 120))"""


def assert_accessible_controls(page) -> None:
    """Every control and link has an accessible name (a label, aria-label or text)."""
    assert page.evaluate(UNLABELLED_CONTROLS) == []


def rule_json_shown(page):
    """Open the builder's "Edit as JSON" text once the page (and its deferred builder
    script) has loaded, check it opened, and return the textarea."""
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Edit as JSON").click()
    expect(page.get_by_role("button", name="Hide JSON")).to_be_visible()
    editor = page.get_by_label("Rule (JSON)")
    expect(editor).to_be_visible()
    return editor


def test_csm_day(world, live_server, page, screenshot):
    # Given a CSM with a book, when they log in, then they land on their book
    log_in(page, live_server, "csm")
    expect(page.get_by_role("heading", name="My book", level=1)).to_be_visible()
    book = page.locator("#book-table")
    expect(book.get_by_role("link", name="Acme 000")).to_be_visible()
    expect(page.get_by_text("Call the champion").first).to_be_visible()
    expect(page.get_by_role("table", name="Renewals by window")).to_contain_text("T-90")
    assert_accessible_controls(page)
    screenshot(page, "01-my-book")

    # When they open an account and ask why it is in a segment
    book.get_by_role("link", name="Acme 000").click()
    expect(page.get_by_role("heading", name="Acme 000", level=1)).to_be_visible()
    page.get_by_role("link", name="Why? (explain)").click()
    panel = page.locator("#explain-panel")
    expect(panel).to_contain_text("matches ✓")
    expect(panel).to_contain_text("actual: enterprise")
    assert_accessible_controls(page)
    screenshot(page, "02-account-detail-explain")

    # When they complete a task with the keyboard, then the row updates in place
    done = page.get_by_role("button", name="Mark done: Call the champion")
    done.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#task-{world.csm_task.id}")).to_contain_text("Done: Call the champion")
    world.csm_task.refresh_from_db()
    assert world.csm_task.status == TaskStatus.DONE

    # When they add a touchpoint, then the timeline shows it without a reload
    page.get_by_label("Kind").select_option("call")
    page.get_by_label("Note", exact=True).fill("Renewal call: happy, wants 20 more seats")
    page.get_by_role("button", name="Add to timeline").click()
    expect(page.locator("#timeline-list")).to_contain_text("Renewal call: happy")
    expect(page.locator("#timeline-list")).to_contain_text("completed the task")

    # When they filter the renewal queue by window, then only that window is listed (by
    # default each contract is listed once, under its tightest window)
    page.get_by_role("link", name="Renewals", exact=True).click()
    expect(page.locator("#renewals-table tbody tr")).to_have_count(3)
    page.get_by_label("Window").select_option("90")
    expect(page.locator("#renewals-table tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"window=90"))
    expect(page.locator("#renewal-count")).to_have_text("2")
    assert_accessible_controls(page)
    screenshot(page, "03-renewal-queue-t90")

    # And the accounts list searches as they type
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_label("Search").fill("acme 00")
    expect(page.locator("#accounts-table tbody tr")).to_have_count(5)
    assert_accessible_controls(page)
    screenshot(page, "04-accounts")

    page.get_by_role("link", name="Tasks", exact=True).click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()
    assert_accessible_controls(page)
    screenshot(page, "05-tasks")

    # On a phone the same pages stay usable (no horizontal scrolling of the page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="My book").click()
    # measured once the book has loaded (not on the page being left, nor mid-navigation)
    expect(page.get_by_role("heading", name="My book", level=1)).to_be_visible()
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "11-my-book-phone")


def test_manager_publishes_a_version_and_members_change(
    world, eager_tasks, live_server, page, screenshot
):
    segment = world.segment
    log_in(page, live_server, "manager")
    expect(page.get_by_role("heading", name="Team overview")).to_be_visible()
    screenshot(page, "06-manager-team")

    page.get_by_role("link", name="Segments", exact=True).click()
    screenshot(page, "07-segments")
    page.get_by_role("link", name="Enterprise").first.click()
    expect(page.locator("#member-count")).to_have_text("6")

    # When the manager saves an invalid rule (typed as JSON behind the builder's "Edit as
    # JSON" switch), then the error names the rule path
    page.get_by_role("link", name="New version").click()
    editor = rule_json_shown(page)
    editor.fill(json.dumps({"all": [{"field": "arr", "op": "gte", "value": "abc"}]}))
    page.get_by_role("button", name="Save draft and preview").click()
    expect(page.locator("#rule-errors")).to_contain_text("all[0].value")
    assert_accessible_controls(page)
    screenshot(page, "08-rule-error")

    # When they fix it and save, then the draft's preview shows who enters and exits
    rule_json_shown(page).fill(json.dumps({"all": [{"field": "arr", "op": "gte", "value": 13000}]}))
    page.get_by_label("Note").fill("Bigger accounts only")
    page.get_by_role("button", name="Save draft and preview").click()
    expect(page.locator("#preview-count")).to_have_text("5")  # 13k, 14k and 3 × 50k
    screenshot(page, "09-version-preview")

    # When they publish, then the segment's members change
    page.get_by_role("button", name="Publish v2").click()
    expect(page.locator("#recompute-status")).to_contain_text("Recomputed")
    page.reload()
    expect(page.locator("#member-count")).to_have_text("5")
    members = set(
        Membership.objects.filter(segment=segment).values_list("account__name", flat=True)
    )
    assert members == {"Acme 003", "Acme 004", "Globex 000", "Globex 001", "Globex 002"}
    screenshot(page, "10-segment-detail")

    # And "recompute now" shows that it runs, then that it finished. The page already
    # shows the publish's "Recomputed" line: wait for the POST's answer (the recompute
    # runs within it, eagerly) so the line checked is the new one, and the test does not
    # end while the server still writes.
    with page.expect_response(
        lambda response: response.request.method == "POST" and "/recompute/" in response.url
    ):
        page.get_by_role("button", name="Recompute now").click()
    expect(page.locator("#recompute-status")).to_contain_text("Recomputed")
