"""A manager builds a nested segment in the app (no admin), watches the live count, saves
a draft, reads its preview, publishes it and sees the members counted (issue 21)."""

import json
from decimal import Decimal

import pytest

from customers.tests.factories import AccountFactory
from segments.models import Segment
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM
from tests.browser.test_ui import assert_accessible_controls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def sign_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "pw-manager")
    page.click("button[type=submit]")


def test_build_a_nested_segment_preview_publish_and_see_the_count(
    page, live_server, manager, eager_tasks, screenshot
):
    # Given accounts: two match "ARR ≥ 1,000 and (EMEA or enterprise)", two do not
    AccountFactory(name="Emea big", region="EMEA", plan="pro", arr=Decimal(5000))
    AccountFactory(name="Enterprise big", region="NA", plan="enterprise", arr=Decimal(2000))
    AccountFactory(name="Emea small", region="EMEA", plan="pro", arr=Decimal(10))
    AccountFactory(name="Other big", region="NA", plan="pro", arr=Decimal(9000))
    sign_in(page, live_server)

    # When the manager starts a new segment from the segments page (not the admin)
    page.goto(f"{live_server.url}/segments/")
    page.click("text=New segment")
    page.wait_for_url("**/segments/new/")
    page.fill("#id_name", "Expansion targets")

    # and builds ARR ≥ 1000 AND (region = EMEA OR plan in [enterprise])
    root = page.locator(".rule-builder > .rule-group")
    root.locator(".rule-group-header").first.get_by_text("+ condition").click()
    arr = page.locator(".rule-leaf").first
    arr.locator("select").nth(0).select_option("arr")
    arr.locator("select").nth(1).select_option("gte")
    arr.locator("input").fill("1000")
    arr.locator("input").dispatch_event("change")
    root.locator(".rule-group-header").first.get_by_text("+ group").click()
    inner = page.locator(".rule-builder .rule-group .rule-group").first
    inner.locator(".rule-group-header select").select_option("any")
    inner = page.locator(".rule-builder .rule-group .rule-group").first
    inner.locator(".rule-group-header").get_by_text("+ condition").click()
    inner.locator(".rule-group-header").get_by_text("+ condition").click()
    region, plan = inner.locator(".rule-leaf").nth(0), inner.locator(".rule-leaf").nth(1)
    region.locator("select").nth(0).select_option("region")
    region.locator("select").nth(1).select_option("eq")
    region.locator("select").nth(2).select_option("EMEA")
    plan = page.locator(".rule-builder .rule-group .rule-group .rule-leaf").nth(1)
    plan.locator("select").nth(0).select_option("plan")
    plan.locator("select").nth(1).select_option("in")
    page.locator(".rule-builder .rule-group .rule-group .rule-leaf select[multiple]").select_option(
        ["enterprise"]
    )

    # Then the live line counts what it would hold, and the JSON is the nested rule
    live = page.locator(".rule-live")
    live.filter(has_text="Would hold 2 accounts").wait_for()
    assert "$7.0k ARR" in live.inner_text()
    rule = json.loads(page.locator("textarea[name=rule]").input_value())
    assert rule == {
        "all": [
            {"field": "arr", "op": "gte", "value": 1000},
            {
                "any": [
                    {"field": "region", "op": "eq", "value": "EMEA"},
                    {"field": "plan", "op": "in", "value": ["enterprise"]},
                ]
            },
        ]
    }
    assert_accessible_controls(page)
    screenshot(page, "segment-builder")

    # When they save a draft, the preview lists who would enter
    page.click("#save-draft")
    page.wait_for_url("**/segments/*/versions/1/")
    assert page.locator("#preview-count").inner_text() == "2"
    entering = page.locator("#preview").inner_text()
    assert "Emea big" in entering and "Enterprise big" in entering and "Other big" not in entering
    screenshot(page, "segment-preview")

    # and when they publish it, the segment holds its two members
    page.click("#publish-button")
    page.wait_for_url("**recompute=**")
    page.reload()
    assert page.locator("#member-count").inner_text() == "2"
    segment = Segment.objects.get(name="Expansion targets")
    assert segment.current_version.number == 1 and segment.member_count == 2

    # When they start a new version that raises the ARR floor, the live preview lists who
    # would exit, by name, before anything is saved
    page.goto(f"{live_server.url}/segments/{segment.pk}/versions/new/")
    arr = page.locator(".rule-leaf").first
    arr.locator("input").fill("3000")
    arr.locator("input").dispatch_event("change")
    page.locator(".rule-live").filter(has_text="−1 exiting").wait_for()
    exiting = page.locator(".rule-live-moves [data-side=exiting]")
    assert "Enterprise big" in exiting.inner_text() and "$2,000" in exiting.inner_text()
    assert "Nobody." in page.locator(".rule-live-moves [data-side=entering]").inner_text()
    screenshot(page, "segment-builder-moves")
