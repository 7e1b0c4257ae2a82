"""The admin's no-build query builder, driven in a real Chromium: editing the rule with
buttons and selects writes the JSON that the server validates and stores."""

import json

import pytest

from segments.models import Segment
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def test_query_builder_edits_the_rule_json_and_saves(page, live_server, manager):
    # given a manager on the "add segment" admin page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "pw-manager")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/segments/segment/add/")
    assert page.locator(".rule-builder").count() == 1

    # when they add a condition, pick "plan", "in", and two plans from the picklist
    page.click(".rule-group-header >> text=+ condition")
    leaf = page.locator(".rule-leaf").first
    leaf.locator("select").nth(0).select_option("plan")
    leaf.locator("select").nth(1).select_option("in")
    page.locator(".rule-leaf select[multiple]").select_option(["pro", "enterprise"])

    # then the fields are grouped and labelled, and the operators read as the server
    # labels them
    groups = leaf.locator("select").nth(0).locator("optgroup")
    assert "Revenue and contracts" in [
        groups.nth(i).get_attribute("label") for i in range(groups.count())
    ]
    assert "Plan" in leaf.locator("select").nth(0).locator("option").all_inner_texts()
    labels = leaf.locator("select").nth(1).locator("option").all_inner_texts()
    assert "not in" in labels and "is set" in labels

    # and the JSON and the readable line follow
    rule = json.loads(page.locator("textarea[name=rule]").input_value())
    assert rule == {"all": [{"field": "plan", "op": "in", "value": ["pro", "enterprise"]}]}
    assert "plan in [pro, enterprise]" in page.locator(".rule-readable").inner_text()

    # and saving stores it through the service
    page.fill("#id_name", "Paid plans")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/segments/segment/")
    segment = Segment.objects.get(name="Paid plans")
    assert segment.versions.get().rule == rule
