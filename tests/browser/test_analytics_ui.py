"""The analytics page as a finance person reads it, in a real Chromium: a growth series
rebuilt from membership history, legends that match, text of 13 px or more, a metrics table
that fits its card, named overlap columns, the "since created" note, and a figure that
opens the accounts behind it (DESIGN section 6, issue 21)."""

from datetime import date

import pytest

from segments.engine import segment_snapshots_backfill
from segments.tests.analytics_fixtures import enterprise_fixture, member, segment
from tests.browser.chromium import HAVE_CHROMIUM, NO_CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM),
]


def test_the_page_reads_as_a_finance_person_needs(
    page, live_server, manager, today, settings, screenshot
):
    # Given the enterprise fixture, whose history began 2025-01-15, with its growth
    # snapshots rebuilt from that history, and a second segment sharing an account
    settings.CS_ANALYTICS_CACHE_SECONDS = 0
    fixture = enterprise_fixture()
    enterprise = fixture["segment"]
    other = segment("Expansion candidates", date(2026, 6, 1))
    member(other, fixture["accounts"][1], date(2026, 6, 2))
    segment_snapshots_backfill(segment_id=enterprise.pk)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "pw-manager")
    page.click("input[type=submit]")

    # When they open the analytics page
    page.goto(f"{live_server.url}/analytics/")
    screenshot(page, "analytics")

    # Then the growth chart draws a series of many points for the segment with history
    line = page.locator("#growth-figure polyline[data-series='0']")
    assert len(line.get_attribute("points").split()) > 300
    # each legend key has its line's colour and dash
    for index in ("0", "1"):
        key = page.locator(f"#growth-figure .legend-key[data-series='{index}']")
        drawn = page.locator(f"#growth-figure polyline[data-series='{index}']")
        if drawn.count():
            assert key.evaluate("e => getComputedStyle(e).stroke") == drawn.evaluate(
                "e => getComputedStyle(e).stroke"
            )
    # every chart's text is at least 13 px on screen (its size times the chart's scale)
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('figure svg text')].map(t => {
            const svg = t.ownerSVGElement;
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return parseFloat(getComputedStyle(t).fontSize) * scale;
        }))"""
    )
    assert round(smallest, 2) >= 13  # (the scale is 0.99999… where layout rounds)
    # the charts have axis titles
    assert page.locator("#growth-figure .axis-title", has_text="Members").count() == 1
    # the metrics table fits its card, or scrolls inside it with its first column fixed
    fits = page.evaluate(
        """() => {
            const wrap = document.querySelector('#compare-table').closest('.table-wrap');
            const card = document.querySelector('#compare').getBoundingClientRect();
            const first = document.querySelector('#compare-table tbody th');
            return {
                insideCard: wrap.getBoundingClientRect().right <= card.right + 0.5,
                fits: wrap.scrollWidth <= wrap.clientWidth,
                sticky: getComputedStyle(first).position === 'sticky',
            };
        }"""
    )
    assert fits["insideCard"] and (fits["fits"] or fits["sticky"])
    # the young segment's retention figures carry the "since created" note
    assert "since created 1 Jun 2026" in page.locator("#compare-table").inner_text()
    # the overlap matrix names its columns
    assert "Expansion candidates" in page.locator("#overlap-table thead").inner_text()
    assert page.locator("#overlap-figure .column-label", has_text="Enterprise").count() == 1

    # When they follow the Enterprise NRR to the accounts behind it
    row = page.locator("#compare-table tbody tr", has_text="Enterprise")
    row.locator("td").nth(3).locator("a").click()

    # Then the window population is listed, adding up to the same NRR
    page.wait_for_url("**figure=window**")
    assert page.locator("#figure-accounts tbody tr").count() == 5
    assert "68.9%" in page.locator("#figure-totals").inner_text()
