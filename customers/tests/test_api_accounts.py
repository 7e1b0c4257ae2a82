"""The accounts API, token auth, pagination, filters, ordering, errors, throttling and the
schema / docs pages."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from customers import services
from customers.models import Account, CSMAssignment
from customers.selectors import account_ids_pending_evaluation
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


# --- token auth ---------------------------------------------------------------------------------


def test_token_for_good_credentials_then_token_auth_works(csm):
    # Given a CSM's username and password
    anonymous = APIClient()
    # When they ask for a token
    response = anonymous.post(
        "/api/auth/token/", {"username": "csm", "password": "pw-csm"}, format="json"
    )
    # Then they get one, and it authenticates API requests
    assert response.status_code == 200
    token = response.json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get("/api/accounts/").status_code == 200
    # And asking again returns the same token
    again = APIClient().post(
        "/api/auth/token/", {"username": "csm", "password": "pw-csm"}, format="json"
    )
    assert again.json()["token"] == token


def test_token_refused_for_bad_credentials(csm):
    response = APIClient().post(
        "/api/auth/token/", {"username": "csm", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_token_request_names_missing_fields(db):
    response = APIClient().post("/api/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_basic_auth_works_for_scripts(csm):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic Y3NtOnB3LWNzbQ==")  # csm:pw-csm
    assert client.get("/api/accounts/").status_code == 200


def test_anonymous_gets_nothing(db):
    response = APIClient().get("/api/accounts/")
    assert response.status_code in (401, 403)


# --- list, filters, ordering, pagination ----------------------------------------------------------


def test_list_shows_fields_with_derived_values(csm, manager):
    # Given an account with an active contract and an owner
    account = services.account_create(name="Acme", external_id="acme", plan="pro")
    services.contract_create(
        account=account,
        start_date=date(2026, 1, 1),
        end_date=date(2027, 1, 31),
        arr=Decimal("120000.00"),
    )
    services.csm_assign(account=account, user=csm)
    # When a CSM lists accounts
    response = api_client(csm).get("/api/accounts/")
    # Then the page has the paginated shape and the derived read-only fields
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    row = body["results"][0]
    assert row["arr"] == "120000.00"
    assert row["renewal_date"] == "2027-01-31"
    assert row["csm"] == "csm"
    assert row["external_id"] == "acme"
    assert row["traits"] == {}


def test_list_is_one_page_of_bounded_size(csm, django_assert_max_num_queries):
    AccountFactory.create_batch(12)
    client = api_client(csm)
    with django_assert_max_num_queries(6):
        page = client.get("/api/accounts/?page_size=5&page=2").json()
    assert page["count"] == 12 and len(page["results"]) == 5
    assert page["next"] and page["previous"]
    # A page size above the bound is clamped; nonsense falls back to the default.
    assert len(client.get("/api/accounts/?page_size=100000000000000000000").json()["results"]) == 12
    assert client.get("/api/accounts/?page_size=-3").status_code == 200


@pytest.mark.parametrize("page", ["999999999999999999999999", "0", "abc", "1e23"])
def test_bad_page_numbers_are_404_not_500(csm, page):
    AccountFactory()
    response = api_client(csm).get(f"/api/accounts/?page={page}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_filters_and_whitelisted_ordering(csm):
    AccountFactory(name="B", plan="pro", region="EMEA", health_score=80)
    AccountFactory(name="A", plan="enterprise", region="NA", health_score=40)
    AccountFactory(name="C", plan="pro", region="NA", health_score=60)
    client = api_client(csm)
    names = lambda url: [a["name"] for a in client.get(url).json()["results"]]  # noqa: E731
    assert names("/api/accounts/?plan=pro") == ["B", "C"]
    assert names("/api/accounts/?plan=pro&plan=enterprise&region=NA") == ["A", "C"]
    assert names("/api/accounts/?health_score_min=50&ordering=-health_score") == ["B", "C"]
    assert names("/api/accounts/?name=c") == ["C"]
    # An ordering not on the whitelist is ignored (default order), never an error.
    assert names("/api/accounts/?ordering=traits") == ["A", "B", "C"]


@pytest.mark.parametrize(
    "query",
    [
        "plan=gold",
        "health_score_min=abc",
        "health_score_min=99999999999999999999",
        "arr_min=1e400",
        "renewal_date_after=2026-13-01",
        "updated_since=0001-01-01T00:00:00%2B23:59",
        "name=a%00b",
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(csm, query):
    response = api_client(csm).get(f"/api/accounts/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_csm_filter_and_unassigned(csm, other_csm):
    mine = AccountFactory(name="Mine")
    theirs = AccountFactory(name="Theirs")
    AccountFactory(name="Nobody")
    services.csm_assign(account=mine, user=csm)
    services.csm_assign(account=theirs, user=other_csm)
    client = api_client(csm)
    assert [a["name"] for a in client.get("/api/accounts/?csm=csm").json()["results"]] == ["Mine"]
    unassigned = client.get("/api/accounts/?unassigned=true").json()["results"]
    assert [a["name"] for a in unassigned] == ["Nobody"]


# --- create, retrieve, update, delete ----------------------------------------------------------


def test_manager_creates_account(manager):
    response = api_client(manager).post(
        "/api/accounts/",
        {"name": "Acme", "external_id": "acme-1", "plan": "pro", "employees": 120},
        format="json",
    )
    assert response.status_code == 201, response.json()
    account = Account.objects.get(external_id="acme-1")
    assert account.employees == 120 and account.pk in account_ids_pending_evaluation()
    assert response.json()["id"] == account.id


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"external_id": "x"}, "name"),
        ({"name": "X"}, "external_id"),
        ({"name": "X", "external_id": "x", "lifecycle_stage": "gold"}, "lifecycle_stage"),
        ({"name": "X", "external_id": "x", "employees": -1}, "employees"),
        ({"name": "X", "external_id": "x", "cost_to_serve": "-1"}, "cost_to_serve"),
        ({"name": "X", "external_id": "x", "customer_since": "yesterday"}, "customer_since"),
        ({"name": "X", "external_id": "x", "employees": 2**64}, "employees"),
        ({"name": "X\x00", "external_id": "x"}, "name"),
        ({"name": "X", "external_id": "x", "traits": {"nope": 1}}, "traits"),
        ({"name": "X", "external_id": "x", "traits": {"k\x00": 1}}, "traits"),
        ({"name": "X", "external_id": "x", "traits": [1]}, "traits"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(manager, payload, field):
    response = api_client(manager).post("/api/accounts/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.exists()


def test_create_refuses_duplicate_external_id(manager):
    AccountFactory(external_id="dup")
    response = api_client(manager).post(
        "/api/accounts/", {"name": "X", "external_id": "dup"}, format="json"
    )
    assert response.status_code == 400
    assert "external_id" in response.json()


def test_traits_are_checked_against_declared_attributes(manager):
    services.attribute_definition_create(key="seats_goal", label="Seats goal", type="integer")
    client = api_client(manager)
    ok = client.post(
        "/api/accounts/",
        {"name": "X", "external_id": "x", "traits": {"seats_goal": 40}},
        format="json",
    )
    assert ok.status_code == 201
    bad = client.patch(
        f"/api/accounts/{ok.json()['id']}/", {"traits": {"seats_goal": "many"}}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["traits"] == ["seats_goal: expected an integer, got 'many'"]


def test_non_json_body_is_400(manager):
    response = api_client(manager).post(
        "/api/accounts/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_patch_changes_only_given_fields_and_ignores_read_only(manager):
    account = AccountFactory(plan="pro", region="NA")
    response = api_client(manager).patch(
        f"/api/accounts/{account.id}/", {"plan": "enterprise", "arr": "99"}, format="json"
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.plan, account.region, account.arr) == ("enterprise", "NA", Decimal("0"))
    assert account.pk in account_ids_pending_evaluation()


def test_put_is_not_allowed(manager):
    account = AccountFactory()
    response = api_client(manager).put(f"/api/accounts/{account.id}/", {}, format="json")
    assert response.status_code == 405


def test_delete_account(manager, csm):
    account = AccountFactory()
    services.csm_assign(account=account, user=csm)
    response = api_client(manager).delete(f"/api/accounts/{account.id}/")
    assert response.status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not CSMAssignment.objects.exists()


@pytest.mark.parametrize("bad_id", ["abc", "0", "99999999999999999999999", "-1", "1.5"])
def test_bad_or_unknown_ids_are_404(csm, bad_id):
    response = api_client(csm).get(f"/api/accounts/{bad_id}/")
    assert response.status_code == 404


# --- throttling, schema, docs -------------------------------------------------------------------


def test_anonymous_requests_are_throttled(db, monkeypatch):
    # Given a low anonymous rate
    cache.clear()
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min"})
    client = APIClient()
    # When an anonymous client keeps asking for tokens
    codes = [
        client.post("/api/auth/token/", {"username": "x", "password": "y"}).status_code
        for _ in range(3)
    ]
    # Then the third request is refused with 429
    assert codes == [400, 400, 429]
    cache.clear()


def test_schema_is_openapi_3_with_every_contract_path(csm):
    response = api_client(csm).get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    expected = {
        "/api/auth/token/",
        "/api/accounts/",
        "/api/accounts/{id}/",
        "/api/accounts/bulk/",
        "/api/accounts/{id}/segments/",
        "/api/accounts/{id}/explain/",
        "/api/contracts/",
        "/api/contracts/{id}/",
        "/api/assignments/",
        "/api/attributes/",
        "/api/segments/",
        "/api/segments/{id}/",
        "/api/segments/{id}/versions/",
        "/api/segments/{id}/versions/{number}/publish/",
        "/api/segments/{id}/versions/{number}/preview/",
        "/api/segments/{id}/recompute/",
        "/api/segments/{id}/members/",
        "/api/segments/{id}/events/",
        "/api/renewals/",
        "/api/renewals/rebuild/",
        "/api/tasks/",
        "/api/tasks/{id}/",
        "/api/playbooks/",
        "/api/playbooks/{id}/runs/",
        "/api/playbooks/{id}/dry-run/",
    }
    assert expected <= set(schema["paths"])


def test_docs_page_loads_swagger_ui_from_local_static_files(csm):
    # Given the docs page
    response = api_client(csm).get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    # Then it loads Swagger UI from this server's static files (works offline), not a CDN
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    redoc = api_client(csm).get("/api/redoc/").content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc


def test_deeply_nested_json_is_400(manager):
    body = "[" * 100_000 + "]" * 100_000
    response = api_client(manager).post("/api/accounts/", body, content_type="application/json")
    assert response.status_code == 400


def test_too_large_body_is_413_json(manager):
    body = '{"name": "' + "x" * 3_000_000 + '"}'
    response = api_client(manager).post("/api/accounts/", body, content_type="application/json")
    assert response.status_code == 413
    assert "detail" in response.json()


def test_health_score_is_read_only_computed_by_the_health_app(manager):
    # Given an account (its health_score is the computed health score, docs/health.md)
    account = AccountFactory(health_score=55)
    # When a client sends a health score, then it is ignored: the stored score stays
    response = api_client(manager).patch(
        f"/api/accounts/{account.pk}/", {"health_score": 10, "employees": 7}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["health_score"] == 55
    account.refresh_from_db()
    assert (account.health_score, account.employees) == (55, 7)
