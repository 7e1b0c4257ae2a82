"""The segments API: segments, versions, publish, preview, recompute, members (JSON and
CSV, now and at a past date), events, an account's segments and explain."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cs_platform.models import OutboxMessage
from customers import services as customer_services
from customers.models import Account
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from segments import engine, services
from segments.models import MembershipEvent, Segment, SegmentVersion

pytestmark = pytest.mark.django_db

PRO = {"all": [{"field": "plan", "op": "eq", "value": "pro"}]}
BIG = {"all": [{"field": "arr", "op": "gte", "value": 100000}]}


@pytest.fixture
def accounts(db):
    pro = AccountFactory(name="Pro Co", plan="pro")
    customer_services.contract_create(
        account=pro,
        start_date=date(2026, 1, 1),
        end_date=date(2027, 1, 1),
        arr=Decimal("150000.00"),
    )
    free = AccountFactory(name="Free Co", plan="free")
    return pro, free


@pytest.fixture
def segment(manager, accounts, today, django_capture_on_commit_callbacks):
    """A published "pro" segment, recomputed."""
    segment = services.segment_create(name="Pro", rule=PRO, publish=True, created_by=manager)
    engine.segment_recompute(segment_id=segment.pk)
    return Segment.objects.get(pk=segment.pk)


def test_create_segment_with_version_1_published(manager, accounts, today):
    response = api_client(manager).post(
        "/api/segments/",
        {"name": "Big", "description": "ARR ≥ 100k", "rule": BIG, "publish": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["current_version"] == 1 and body["rule"] == BIG and body["kind"] == "dynamic"
    segment = Segment.objects.get(pk=body["id"])
    assert segment.versions.get().is_published


def test_create_segment_draft_only(manager, accounts):
    body = api_client(manager).post("/api/segments/", {"name": "Draft", "rule": PRO}, format="json")
    assert body.status_code == 201
    assert body.json()["current_version"] is None
    assert SegmentVersion.objects.get(segment_id=body.json()["id"]).number == 1


@pytest.mark.parametrize(
    "rule, message",
    [
        (
            {"all": [PRO["all"][0], PRO["all"][0], {"field": "arr", "op": "gte", "value": "abc"}]},
            'all[2].value: expected a number, got "abc"',
        ),
        ({"all": [{"field": "nope", "op": "eq", "value": 1}]}, "all[0].field"),
        ({"field": "plan", "op": "eq", "value": "a\x00"}, "Null characters are not allowed."),
    ],
)
def test_invalid_rule_comes_back_with_the_validator_path(manager, rule, message):
    response = api_client(manager).post(
        "/api/segments/", {"name": "Bad", "rule": rule}, format="json"
    )
    assert response.status_code == 400
    assert any(message in m for m in response.json()["rule"])
    assert not Segment.objects.exists()


def test_list_and_retrieve_show_counts(segment, csm):
    client = api_client(csm)
    listed = client.get("/api/segments/").json()["results"]
    assert [(s["name"], s["member_count"], s["arr"]) for s in listed] == [("Pro", 1, "150000.00")]
    one = client.get(f"/api/segments/{segment.pk}/").json()
    assert one["current_version"] == 1 and one["last_computed_at"]


def test_patch_segment(segment, manager):
    response = api_client(manager).patch(
        f"/api/segments/{segment.pk}/", {"description": "Pro plan", "kind": "static"}, format="json"
    )
    assert response.status_code == 200
    segment.refresh_from_db()
    assert segment.description == "Pro plan" and segment.kind == "dynamic"


def test_versions_draft_preview_publish(segment, manager, accounts, today):
    pro, free = accounts
    client = api_client(manager)
    # Given a new draft that matches big accounts
    draft = client.post(
        f"/api/segments/{segment.pk}/versions/", {"rule": BIG, "note": "by ARR"}, format="json"
    )
    assert draft.status_code == 201 and draft.json()["number"] == 2
    assert not draft.json()["is_published"]
    # When it is previewed against the current version
    preview = client.get(f"/api/segments/{segment.pk}/versions/2/preview/").json()
    # Then the counts and lists say what would change
    assert (preview["count"], preview["entering_count"], preview["exiting_count"]) == (1, 0, 0)
    assert [a["id"] for a in preview["sample"]] == [pro.id]
    assert preview["arr"] == "150000.00"
    # And publishing makes it current
    published = client.post(f"/api/segments/{segment.pk}/versions/2/publish/")
    assert published.status_code == 200 and published.json()["published_at"]
    assert client.get(f"/api/segments/{segment.pk}/").json()["current_version"] == 2
    versions = client.get(f"/api/segments/{segment.pk}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    # A published version cannot be published again
    again = client.post(f"/api/segments/{segment.pk}/versions/2/publish/")
    assert again.status_code == 400


def test_draft_with_invalid_rule_names_the_path(segment, manager):
    response = api_client(manager).post(
        f"/api/segments/{segment.pk}/versions/",
        {"rule": {"any": [{"field": "plan", "op": "gt", "value": "pro"}]}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["rule"][0].startswith("any[0].op")


@pytest.mark.parametrize("number", ["9", "abc", "99999999999999999999999"])
def test_unknown_versions_are_404(segment, manager, number):
    client = api_client(manager)
    assert client.get(f"/api/segments/{segment.pk}/versions/{number}/preview/").status_code == 404
    assert client.post(f"/api/segments/{segment.pk}/versions/{number}/publish/").status_code == 404


def test_recompute_is_queued(segment, manager, django_capture_on_commit_callbacks):
    # (the publish's own recompute, already run)
    OutboxMessage.objects.filter(task="segments.recompute").update(state="done")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client(manager).post(f"/api/segments/{segment.pk}/recompute/")
    assert response.status_code == 202 and response.json() == {"status": "queued"}
    queued = OutboxMessage.objects.get(task="segments.recompute", state="queued")
    assert queued.args == [segment.pk, segment.current_version_id]
    assert len(callbacks) == 1  # sent to a worker after commit


def test_members_now_and_at_a_past_date(segment, csm, accounts):
    pro, _ = accounts
    client = api_client(csm)
    members = client.get(f"/api/segments/{segment.pk}/members/").json()
    assert [m["id"] for m in members["results"]] == [pro.id]
    assert members["results"][0]["entered_at"] and members["results"][0]["arr"] == "150000.00"
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    past = client.get(f"/api/segments/{segment.pk}/members/?at={yesterday}").json()
    assert past["count"] == 0
    assert client.get(f"/api/segments/{segment.pk}/members/?at=2026-02-30").status_code == 400


def test_members_csv_export(segment, csm, accounts):
    pro, _ = accounts
    response = api_client(csm).get(f"/api/segments/{segment.pk}/members/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["external_id"], r["arr"]) for r in rows] == [(pro.external_id, "150000.00")]
    assert rows[0]["entered_at"]


def test_events_newest_first_and_since(segment, csm, accounts, manager):
    pro, _ = accounts
    customer_services.account_update(account=pro, data={"plan": "free"})
    engine.segment_recompute(segment_id=segment.pk)
    client = api_client(csm)
    events = client.get(f"/api/segments/{segment.pk}/events/").json()["results"]
    assert [(e["account"], e["kind"], e["version"]) for e in events] == [
        (pro.id, "exited", 1),
        (pro.id, "entered", 1),
    ]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert client.get(f"/api/segments/{segment.pk}/events/?since={tomorrow}").json()["count"] == 0
    assert client.get(f"/api/segments/{segment.pk}/events/?since=soon").status_code == 400
    assert MembershipEvent.objects.count() == 2


def test_account_segments_and_explain(segment, csm, accounts):
    pro, free = accounts
    client = api_client(csm)
    listed = client.get(f"/api/accounts/{pro.id}/segments/").json()["results"]
    assert [(s["id"], bool(s["entered_at"])) for s in listed] == [(segment.pk, True)]
    assert client.get(f"/api/accounts/{free.id}/segments/").json()["count"] == 0
    explained = client.get(f"/api/accounts/{free.id}/explain/?segment={segment.pk}").json()
    assert (explained["segment"], explained["version"], explained["account"]) == (
        segment.pk,
        1,
        free.id,
    )
    assert explained["matched"] is False
    leaf = explained["explanation"]["all"][0]
    assert (leaf["matched"], leaf["actual"]) == (False, "free")
    with_version = client.get(f"/api/accounts/{pro.id}/explain/?segment={segment.pk}&version=1")
    assert with_version.json()["matched"] is True


@pytest.mark.parametrize(
    "query, status",
    [("", 400), ("?segment=abc", 400), ("?segment=999999", 404), ("?segment={id}&version=7", 404)],
)
def test_explain_errors(segment, csm, accounts, query, status):
    pro, _ = accounts
    url = f"/api/accounts/{pro.id}/explain/" + query.format(id=segment.pk)
    assert api_client(csm).get(url).status_code == status


def test_explain_without_published_version(manager, accounts):
    pro, _ = accounts
    draft = services.segment_create(name="Draft", rule=PRO)
    response = api_client(manager).get(f"/api/accounts/{pro.id}/explain/?segment={draft.pk}")
    assert response.status_code == 404


def test_members_csv_export_escapes_formula_cells(segment, csm, accounts):
    pro, _ = accounts
    Account.objects.filter(pk=pro.pk).update(name="@SUM(A1:A9)")
    response = api_client(csm).get(f"/api/segments/{segment.pk}/members/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["name"] == "'@SUM(A1:A9)"
