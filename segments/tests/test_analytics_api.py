"""The analytics API: payloads (DESIGN section 6) and bad input (400/404, never 500)."""

from datetime import date

import pytest
from rest_framework.test import APIClient

from customers.tests.factories import AccountFactory
from segments.tests.analytics_fixtures import contract, enterprise_fixture, member, segment

pytestmark = pytest.mark.django_db

METRIC_KEYS = {
    "accounts",
    "arr",
    "avg_arr",
    "nrr",
    "grr",
    "logo_churn_rate",
    "renewal_rate",
    "cost_to_serve_ratio",
    "cac_payback_months",
    "ltv",
    "avg_health",
}


@pytest.fixture
def api(csm) -> APIClient:
    client = APIClient()
    client.force_authenticate(csm)
    return client


def test_segment_metrics_payload(api, today):
    # Given the Enterprise fixture (see analytics_fixtures)
    ent = enterprise_fixture()["segment"]

    # When a CSM asks for its metrics today
    response = api.get(f"/api/segments/{ent.pk}/metrics/")

    # Then the contract's keys are there, rates as decimals (JSON numbers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= METRIC_KEYS
    assert body["accounts"] == 7
    assert body["arr"] == 1220.0
    assert body["nrr"] == 0.6887
    assert body["grr"] == 0.6698
    assert body["logo_churn_rate"] == 0.2
    assert body["renewal_rate"] == 0.75
    assert body["cost_to_serve_ratio"] == 0.1128
    assert body["cac_payback_months"] == 24.0
    assert body["ltv"] == 871.43 and body["ltv_no_churn"] is False
    assert body["avg_health"] == 62.5
    assert body["population"] == "trailing_12_months"
    assert body["population_since"] is None
    assert body["window_start"] == "2025-11-22" and body["as_of"] == "2026-11-22"


def test_segment_metrics_as_of_and_since_created(api, today):
    # Given a segment created in June 2026 with one member, and the Enterprise fixture
    ent = enterprise_fixture()["segment"]
    young = segment("Young", date(2026, 6, 1))
    member(young, AccountFactory(), date(2026, 6, 2))

    # When
    past = api.get(f"/api/segments/{ent.pk}/metrics/", {"as_of": "2026-04-01"}).json()
    new = api.get(f"/api/segments/{young.pk}/metrics/").json()

    # Then
    assert (past["as_of"], past["accounts"], past["nrr"]) == ("2026-04-01", 8, 0.3913)
    assert new["population"] == "since_created"
    assert new["population_since"] == "2026-06-01"
    assert new["nrr"] is None  # its member has no ARR: an empty window population


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"as_of": "2026-13-01"}, "as_of"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2030-01-01"}, "as_of"),
    ],
)
def test_segment_metrics_bad_dates_are_400(api, today, query, field):
    seg = segment("Any", date(2024, 1, 1))
    response = api.get(f"/api/segments/{seg.pk}/metrics/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_segment_metrics_unknown_segment_is_404(api, today):
    assert api.get("/api/segments/999999/metrics/").status_code == 404


def test_analytics_requires_login(today):
    seg = segment("Any", date(2024, 1, 1))
    assert APIClient().get(f"/api/segments/{seg.pk}/metrics/").status_code in (401, 403)


def test_overlap_payload(api, today):
    # Given X = {a, b}, Y = {b}, and c in none
    x, y = segment("X", date(2024, 1, 1)), segment("Y", date(2024, 1, 1))
    a, b, _c = AccountFactory.create_batch(3)
    for seg, acct in ((x, a), (x, b), (y, b)):
        member(seg, acct, date(2026, 1, 1))

    # When
    response = api.get("/api/analytics/overlap/", {"segments": f"{x.pk},{y.pk}"})

    # Then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pairs"] == [{"a": x.pk, "b": y.pk, "count": 1}]
    assert body["matrix"] == [[2, 1], [1, 1]]
    assert body["segments"] == [
        {"id": x.pk, "name": "X", "accounts": 2},
        {"id": y.pk, "name": "Y", "accounts": 1},
    ]
    assert (body["accounts_total"], body["in_any"], body["in_none"]) == (3, 2, 1)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ("", ""),
        ("1,abc", "not a segment id: abc"),
        ("999999", "unknown segment ids: 999999"),
        (",".join(str(n) for n in range(1, 40)), "at most 25"),
    ],
)
def test_overlap_bad_segments_are_400_naming_the_field(api, today, segments, message):
    response = api.get("/api/analytics/overlap/", {"segments": segments})
    assert response.status_code == 400
    assert "segments" in response.json()
    assert message in str(response.json()["segments"])


def test_cohorts_payload_and_filters(api, today):
    # Given one January 2026 starter customer with 100 ARR

    acct = AccountFactory(customer_since=date(2026, 1, 5), plan="starter")
    contract(acct, date(2026, 1, 5), date(2027, 1, 4), 100)

    # When
    body = api.get(
        "/api/analytics/cohorts/", {"as_of": "2026-02-10", "months": 2, "plan": "starter"}
    ).json()

    # Then
    assert body["months"] == 2 and body["plan"] == "starter" and body["segment"] is None
    jan, feb = body["cohorts"]
    assert (jan["month"], jan["accounts"], jan["start_arr"]) == ("2026-01", 1, 100.0)
    assert [
        (c["months_since"], c["measured_on"], c["logo_retention"], c["revenue_retention"])
        for c in jan["cells"]
    ] == [(0, "2026-01-31", 1.0, 1.0), (1, "2026-02-10", 1.0, 1.0)]
    assert (feb["month"], feb["accounts"], feb["cells"]) == ("2026-02", 0, [])


@pytest.mark.parametrize(
    "query",
    [
        {"segment": "abc"},
        {"segment": "999999"},
        {"plan": "platinum"},
        {"months": "0"},
        {"months": "1000"},
        {"as_of": "2026-02-30"},
    ],
)
def test_cohorts_bad_input_is_400(api, today, query):
    response = api.get("/api/analytics/cohorts/", query)
    assert response.status_code == 400
    assert set(query) <= set(response.json())


def test_schema_documents_the_analytics_endpoints(api, today):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    metrics = paths["/api/segments/{segment_id}/metrics/"]["get"]
    schema_ref = metrics["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = response.json()["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert set(component["properties"]) >= METRIC_KEYS
    assert component["properties"]["nrr"]["type"] == "number"
    assert "/api/analytics/overlap/" in paths and "/api/analytics/cohorts/" in paths
