"""The analytics page, its CSV downloads and the segment-detail partial."""

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from customers.tests.factories import AccountFactory
from segments.models import Segment
from segments.tasks import analytics_warm_task
from segments.tests.analytics_fixtures import contract, enterprise_fixture, member, segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_analytics_cache(settings):
    """Every test computes live unless it turns the page cache on itself."""
    settings.CS_ANALYTICS_CACHE_SECONDS = 0


@pytest.fixture
def two_segments(today):
    ent = enterprise_fixture()["segment"]
    smb = segment("SMB <b>&", date(2024, 1, 1))
    acct = AccountFactory(customer_since=date(2026, 5, 3))
    contract(acct, date(2026, 5, 3), date(2027, 5, 2), 900)
    member(smb, acct, date(2026, 5, 3))
    return ent, smb


def test_page_renders_compare_overlap_and_cohorts_for_a_manager(client, manager, two_segments):
    # Given a manager and two segments
    ent, smb = two_segments
    client.force_login(manager)

    # When the page is opened with no parameters (all active segments, today)
    response = client.get(reverse("analytics"))

    # Then each section renders with its charts (valid SVG) and tables
    assert response.status_code == 200
    html = response.content.decode()
    for marker in ('id="compare-table"', 'id="overlap-table"', 'id="cohort-table"'):
        assert marker in html
    assert "SMB &lt;b&gt;&amp;" in html and "SMB <b>&" not in html
    svgs = [chunk.split("</svg>")[0] + "</svg>" for chunk in html.split("<svg")[1:]]
    assert len(svgs) >= 7
    for svg in svgs:
        ET.fromstring("<svg" + svg)
    compare = response.context["compare"]
    assert [r["segment"] for r in compare["rows"]] == [ent, smb]
    assert [cell["text"] for cell in compare["rows"][0]["cells"][:2]] == ["7", "$1,220"]
    assert response.context["overlap"]["overlap"].in_none == 9 - 8
    # every figure links to the accounts behind it: NRR to the window population
    nrr = compare["rows"][0]["cells"][3]
    assert nrr["text"] == "68.9%"
    assert f"figure=window&as_of=2026-11-22&segment={ent.pk}" in nrr["href"]
    assert f'href="{nrr["href"].replace("&", "&amp;")}"' in html
    # the overlap matrix names its columns with the segments' names
    assert 'class="num column-name">SMB &lt;b&gt;&amp;</th>' in html
    assert "columns numbered" not in html


def test_csms_see_the_same_read_only_page(client, csm, two_segments):
    client.force_login(csm)
    response = client.get(reverse("analytics"))
    assert response.status_code == 200
    assert b'<form method="post"' not in response.content.split(b"</header>")[1]


def test_page_with_past_dates_and_filters(client, manager, two_segments):
    # Given
    ent, smb = two_segments
    client.force_login(manager)

    # When each section gets its own parameters
    response = client.get(
        reverse("analytics"),
        {
            "segments": [ent.pk],
            "as_of": "2026-04-01",
            "overlap-segments": [ent.pk, smb.pk],
            "overlap-as_of": "2026-06-01",
            "cohort-plan": "pro",
            "cohort-months": "6",
            "cohort-as_of": "2026-10-31",
        },
    )

    # Then
    assert response.status_code == 200
    compare = response.context["compare"]
    assert compare["as_of"] == date(2026, 4, 1)
    assert [r["metrics"].accounts for r in compare["rows"]] == [8]
    overlap = response.context["overlap"]["overlap"]
    assert overlap.as_of == date(2026, 6, 1) and overlap.matrix == [[7, 0], [0, 1]]
    cohorts = response.context["cohorts"]["table"]
    assert cohorts.months == 6 and cohorts.plan == "pro"
    assert [c.accounts for c in cohorts.cohorts] == [1, 0, 0, 0, 0, 0]  # May..Oct 2026: one in May
    # and the other sections' parameters are carried in each form
    assert ("overlap-as_of", "2026-06-01") in response.context["compare_carry"]


def test_bad_parameters_show_errors_not_500(client, manager, two_segments):
    client.force_login(manager)
    response = client.get(
        reverse("analytics"),
        {"as_of": "2099-01-01", "segments": ["x"], "cohort-months": "999", "cohort-plan": "no"},
    )
    assert response.status_code == 200
    assert response.context["compare"]["as_of"] == date(2026, 11, 22)
    assert "Pick today or an earlier date." in response.content.decode()


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_downloads(client, csm, two_segments):
    # Given
    ent, smb = two_segments
    client.force_login(csm)

    # When / Then: compare
    rows = _csv(client.get(reverse("analytics-csv", args=["compare"]), {"segments": [ent.pk]}))
    header, values = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:3] == ["segment_id", "segment", "as_of"]
    assert (values["accounts"], values["nrr"], values["population"]) == (
        "7",
        "0.6887",
        "trailing_12_months",
    )
    # overlap, with the accounts in none
    rows = _csv(client.get(reverse("analytics-csv", args=["overlap"])))
    assert rows[0] == ["segment", "Enterprise", "SMB <b>&"]
    assert rows[1] == ["Enterprise", "7", "0"]
    assert rows[-2] == ["(in none of these)", "1"]
    # cohorts and growth have headers even when empty
    assert _csv(client.get(reverse("analytics-csv", args=["cohorts"])))[0][0] == "cohort"
    assert _csv(client.get(reverse("analytics-csv", args=["growth"])))[0][2] == "day"
    assert client.get("/analytics/export/nope.csv").status_code == 404


def test_csv_neutralises_formula_like_names(client, csm, today):
    seg = segment("=HYPERLINK()", date(2024, 1, 1))
    client.force_login(csm)
    rows = _csv(client.get(reverse("analytics-csv", args=["compare"]), {"segments": [seg.pk]}))
    assert rows[1][1] == "'=HYPERLINK()"


def test_segment_metrics_tag_renders_the_partial(csm, two_segments):
    # Given a page request with ?as_of=
    ent, _smb = two_segments
    request = RequestFactory().get("/segments/1/", {"as_of": "2026-04-01"})
    request.user = csm

    # When the tag is used as the segment detail page does
    html = Template("{% load analytics_tags %}{% segment_metrics segment %}").render(
        Context({"segment": ent, "request": request})
    )

    # Then it shows that date's metrics
    assert 'id="segment-analytics"' in html
    assert "As of 1 Apr 2026" in html
    assert "39.1%" in html  # NRR as of 2026-04-01
    assert "<svg" in html


def test_page_queries_do_not_grow_with_segments(client, manager, today):

    client.force_login(manager)

    def add_segments(count: int) -> None:
        for _ in range(count):
            seg = segment(f"Seg {Segment.objects.count()}", date(2024, 1, 1))
            member(seg, AccountFactory(), date(2026, 1, 1))

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("analytics")).status_code == 200
        return len(queries)

    # Given two segments, then five
    add_segments(2)
    page_queries()  # fills the cached reference lists (picklists, usage metrics)
    with_two = page_queries()
    add_segments(3)

    # Then the page costs the same number of statements
    assert page_queries() == with_two


def test_page_cache_serves_repeat_views_until_membership_changes(client, manager, settings, today):

    # Given the cache on, and one segment with one member
    settings.CS_ANALYTICS_CACHE_SECONDS = 300
    cache.clear()
    seg = segment("Cached", date(2024, 1, 1))
    member(seg, AccountFactory(), date(2026, 1, 1))
    client.force_login(manager)
    first = client.get(reverse("analytics"))

    # When the page is viewed again, then it reads from the cache
    with CaptureQueriesContext(connection) as queries:
        again = client.get(reverse("analytics"))
    assert again.context["compare"]["rows"][0]["metrics"].accounts == 1
    assert not any("GROUP BY" in q["sql"] for q in queries)

    # When a member enters, then the next view recomputes
    member(seg, AccountFactory(), date(2026, 2, 1))
    after = client.get(reverse("analytics"))
    assert after.context["compare"]["rows"][0]["metrics"].accounts == 2
    assert first.status_code == again.status_code == 200
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_sections_computed_side_by_side_match_the_sequential_result(client, manager, settings):
    # Given committed data on PostgreSQL (the only backend where sections run concurrently)

    if connection.vendor != "postgresql":
        pytest.skip("sections run concurrently only on PostgreSQL")
    settings.CS_TODAY = date(2026, 11, 22)
    settings.CS_ANALYTICS_CACHE_SECONDS = 0
    ent = enterprise_fixture()["segment"]
    client.force_login(manager)

    # When the page is rendered outside a transaction (concurrently)
    assert not connection.in_atomic_block
    response = client.get(reverse("analytics"))

    # Then the figures are those of the sequential computation
    assert response.status_code == 200
    row = response.context["compare"]["rows"][0]
    assert row["segment"] == ent
    assert (row["metrics"].accounts, row["metrics"].nrr) == (7, Decimal("0.6887"))
    assert response.context["overlap"]["overlap"].matrix == [[7]]


def test_page_renders_with_no_segments_at_all(client, csm, today):
    AccountFactory()
    client.force_login(csm)
    response = client.get(reverse("analytics"))
    assert response.status_code == 200
    assert response.context["overlap"]["overlap"].in_none == 1
    assert "No segments." in response.content.decode()


def test_scheduled_warm_up_puts_the_page_figures_in_the_cache(client, manager, settings, today):

    # Given the cache on, empty, and a segment with one member
    settings.CS_ANALYTICS_CACHE_SECONDS = 300
    cache.clear()
    seg = segment("Warm", date(2024, 1, 1))
    member(seg, AccountFactory(), date(2026, 1, 1))

    # When the scheduled job runs (every 5 minutes), then the first view of the page
    # computes nothing: its figures come from the cache
    assert PeriodicTask.objects.get(task="segments.analytics_warm").interval.every == 5
    analytics_warm_task.run()
    client.force_login(manager)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("analytics"))
    assert page.status_code == 200
    assert page.context["compare"]["rows"][0]["metrics"].accounts == 1
    assert not any("GROUP BY" in q["sql"] for q in queries)
    cache.clear()
