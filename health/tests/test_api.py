"""The health API (DESIGN 12): scorecards with nested measures and their validation (a 400
naming the field, nothing stored), drafts, an account's health / history / changes, manual
scores (own book only, 0–100), recompute → 202."""

from datetime import date, timedelta

import pytest

from customers import services as customer_services
from customers.models import PendingEvaluation
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from health.models import ManualEntry, Measure, Scorecard
from segments.tests.engine_fixtures import published

from .fixtures import condition, field, manual, run, score_of, scorecard

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db
URL = "/api/scorecards/"
TICKETS = field("tickets", "open_tickets", 10, 0, weight=2)
SENTIMENT = manual("sentiment", valid_days=30)


@pytest.fixture(autouse=True)
def _today(settings):
    settings.CS_TODAY = TODAY


def valid(**extra) -> dict:
    return {"name": "Everyone", "segment": None, "measures": [TICKETS, SENTIMENT], **extra}


def test_create_read_update_delete_a_scorecard(manager, django_capture_on_commit_callbacks):
    client = api_client(manager)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(URL, valid(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["measures"][0] == {
        "key": "tickets",
        "label": "tickets",
        "weight": "2.00",
        "source": "field",
        "field": "open_tickets",
        "bad": "10.000000",
        "good": "0.000000",
    }
    assert (body["red_below"], body["green_from"], body["priority"]) == (40, 70, 100)
    assert len(callbacks) == 1  # the recompute of every account, queued on commit
    pk = body["id"]
    response = client.patch(f"{URL}{pk}/", {"green_from": 80, "measures": [TICKETS]}, format="json")
    assert response.status_code == 200, response.content
    assert [m["key"] for m in response.json()["measures"]] == ["tickets"]
    assert client.get(f"{URL}{pk}/").json()["green_from"] == 80
    assert client.delete(f"{URL}{pk}/").status_code == 204
    assert not Scorecard.objects.exists()


BAD = [
    ({"measures": [{**TICKETS, "weight": 0}]}, "measures[0].weight"),
    ({"measures": [{**TICKETS, "weight": "-1"}]}, "measures[0].weight"),
    ({"measures": [{**TICKETS, "good": "10"}]}, "measures[0].good"),
    ({"measures": [SENTIMENT, {**TICKETS, "field": "plan"}]}, "measures[1].field"),
    ({"measures": [{**TICKETS, "field": "nope"}]}, "measures[0].field"),
    ({"measures": [{**TICKETS, "field": "health.score"}]}, "measures[0].field"),
    (
        {"measures": [condition("c", {"all": [{"field": "arr", "op": "gte", "value": "abc"}]})]},
        "measures[0].rule",
    ),
    ({"measures": [{**TICKETS, "source": "magic"}]}, "measures[0].source"),
    ({"measures": [{**TICKETS, "key": "score"}]}, "measures[0].key"),
    ({"measures": [TICKETS, TICKETS]}, "measures[1].key"),
    ({"measures": []}, "measures"),
    ({"segment": 987654}, "segment"),
    ({"red_below": 80, "green_from": 70}, "green_from"),
    ({"red_below": 101}, "red_below"),
    ({"name": ""}, "name"),
    ({"measures": [{**SENTIMENT, "valid_days": 0}]}, "measures[0].valid_days"),
]


@pytest.mark.parametrize("change, name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_definitions_are_a_400_naming_the_field_and_nothing_is_stored(manager, change, name):
    response = api_client(manager).post(URL, valid(**change), format="json")
    assert response.status_code == 400, response.content
    assert name in response.json(), response.json()
    assert not Scorecard.objects.exists() and not Measure.objects.exists()


def test_a_scorecard_on_a_segment(manager):
    segment = published("Big", {"field": "arr", "op": "gte", "value": 1})
    client = api_client(manager)
    response = client.post(URL, valid(segment=segment.pk, priority=5), format="json")
    assert response.status_code == 201 and response.json()["segment"] == segment.pk
    # one scorecard per segment
    again = client.post(URL, valid(name="Again", segment=segment.pk), format="json")
    assert again.status_code == 400 and "segment" in again.json()


def test_only_managers_change_scorecards(csm):
    client = api_client(csm)
    assert client.get(URL).status_code == 200
    assert client.post(URL, valid(), format="json").status_code == 403
    assert api_client().get(URL).status_code in (401, 403)


def test_an_account_health_breakdown_as_of_history_and_changes(manager):
    account = AccountFactory(open_tickets=5)
    scorecard(measures=[TICKETS, SENTIMENT])
    run(today=TODAY - timedelta(days=10))
    ManualEntry.objects.create(
        account=account,
        measure=Measure.objects.get(key="sentiment"),
        score=80,
        comment="Happy",
        entered_at="2026-11-22T10:00:00Z",
        entered_on=TODAY,
    )
    run(today=TODAY)  # tickets 50 (w 2), sentiment 80 → 180/3 = 60
    client = api_client(manager)

    now = client.get(f"/api/accounts/{account.pk}/health/").json()
    assert (now["score"], now["status"], now["as_of"]) == (60, "yellow", TODAY.isoformat())
    assert now["measures"] == [
        {
            "key": "tickets",
            "label": "tickets",
            "source": "field",
            "value": 5,
            "score": "50.00",
            "weight": "2.00",
            "contribution": "33.33",
        },
        {
            "key": "sentiment",
            "label": "sentiment",
            "source": "manual",
            "value": {
                "score": 80,
                "comment": "Happy",
                "entered_by": None,
                "entered_on": "2026-11-22",
                "valid_until": "2026-12-21",
            },
            "score": "80.00",
            "weight": "1.00",
            "contribution": "26.67",
        },
    ]
    before = client.get(f"/api/accounts/{account.pk}/health/?as_of=2026-11-20").json()
    assert (before["score"], before["measures"][1]["score"]) == (50, None)
    history = client.get(f"/api/accounts/{account.pk}/health/history/?since=2026-11-01").json()
    assert [(h["day"], h["score"]) for h in history] == [("2026-11-12", 50), ("2026-11-22", 60)]
    changes = client.get(
        f"/api/accounts/{account.pk}/health/changes/?from=2026-11-15&to=2026-11-22"
    ).json()
    assert changes["score_change"] == 10
    assert [(m["key"], m["change"]) for m in changes["measures"]] == [
        ("sentiment", "26.67"),
        ("tickets", "-16.67"),
    ]
    for bad in ("as_of=yesterday", "as_of=2026-13-01"):
        assert client.get(f"/api/accounts/{account.pk}/health/?{bad}").status_code == 400
    bad_changes = client.get(f"/api/accounts/{account.pk}/health/changes/?from=2026-11-22")
    assert bad_changes.status_code == 400 and "to" in bad_changes.json()
    assert client.get("/api/accounts/999999/health/").status_code == 404


def test_manual_scores_own_book_only_and_in_range(csm, other_csm, manager):
    mine = AccountFactory()
    customer_services.csm_assign(account=mine, user=csm)
    theirs = AccountFactory()
    customer_services.csm_assign(account=theirs, user=other_csm)
    scorecard(measures=[TICKETS, SENTIMENT])
    PendingEvaluation.objects.all().delete()
    client = api_client(csm)
    url = "/api/accounts/{}/health/manual/"

    ok = client.post(url.format(mine.pk), {"measure": "sentiment", "score": 70, "comment": "ok"})
    assert ok.status_code == 201, ok.content
    assert ok.json()["entered_by"] == "csm" and ok.json()["entered_on"] == TODAY.isoformat()
    assert list(PendingEvaluation.objects.values_list("account_id", flat=True)) == [mine.pk]

    for bad in (101, -1, "high", 50.5, None):
        response = client.post(
            url.format(mine.pk), {"measure": "sentiment", "score": bad}, format="json"
        )
        assert response.status_code == 400 and "score" in response.json(), bad
    not_manual = client.post(url.format(mine.pk), {"measure": "tickets", "score": 5})
    assert not_manual.status_code == 400 and "measure" in not_manual.json()
    # another CSM's account: a 400 naming the account, nothing stored
    others = client.post(url.format(theirs.pk), {"measure": "sentiment", "score": 5})
    assert others.status_code == 400 and "account" in others.json(), others.content
    assert "own book" in str(others.json()["account"])
    assert not ManualEntry.objects.filter(account=theirs).exists()
    assert (
        api_client(manager).post(url.format(theirs.pk), {"measure": "sentiment", "score": 5})
    ).status_code == 201
    assert ManualEntry.objects.count() == 2


def test_recompute_is_queued_for_managers(manager, csm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client(manager).post("/api/health/recompute/")
    assert response.status_code == 202 and len(callbacks) == 1
    assert api_client(csm).post("/api/health/recompute/").status_code == 403


def test_a_draft_is_saved_previewed_and_published_without_touching_live_scores(manager):
    account = AccountFactory(open_tickets=0)
    card = scorecard(measures=[TICKETS])
    run(today=TODAY)
    client = api_client(manager)
    draft_url = f"{URL}{card.pk}/draft/"

    bad = client.put(draft_url, valid(measures=[{**TICKETS, "weight": 0}]), format="json")
    assert bad.status_code == 400 and "measures[0].weight" in bad.json()
    draft = {"name": "Everyone", "segment": None, "measures": [field("t", "open_tickets", 0, 10)]}
    assert client.put(draft_url, draft, format="json").status_code == 200
    assert client.get(f"{URL}{card.pk}/").json()["has_draft"] is True
    # the live definition still scores the account 100 (green)
    preview = client.get(f"{draft_url}preview/").json()
    assert preview["definition"] == "draft"
    assert preview["today"]["draft"]["red"]["count"] == 1
    assert preview["today"]["live"]["green"]["count"] == 1
    assert preview["backtest"]["too_thin"] is True
    assert run(today=TODAY).changed == 0

    published_card = client.post(f"{draft_url}publish/").json()
    assert [m["key"] for m in published_card["measures"]] == ["t"]
    assert published_card["has_draft"] is False
    run(today=TODAY)
    assert score_of(account) == 0
    assert client.post(f"{draft_url}publish/").status_code == 400


def test_the_admin_refuses_a_measure_the_api_would_refuse(manager, client):
    # given a scorecard in the admin's change form
    card = scorecard(measures=[TICKETS])
    client.force_login(manager)
    url = f"/admin/health/scorecard/{card.pk}/change/"
    form = {
        "name": card.name,
        "priority": 100,
        "red_below": 40,
        "green_from": 70,
        "measures-TOTAL_FORMS": 1,
        "measures-INITIAL_FORMS": 0,
        "measures-0-order": 0,
        "measures-0-key": "plan_measure",
        "measures-0-label": "Plan",
        "measures-0-weight": "1",
        "measures-0-source": "field",
        "measures-0-field": "plan",
        "measures-0-bad": "0",
        "measures-0-good": "1",
        "measures-0-valid_days": 90,
    }
    # when a measure over a text field is added, then the form refuses it (the admin's
    # field picker offers the numeric fields only; health/tests/test_admin.py has more)
    response = client.post(url, form)
    assert response.status_code == 200
    assert "plan is not one of the available choices" in response.content.decode()
    assert not Measure.objects.filter(key="plan_measure").exists()


def test_a_segment_on_health_fields_cannot_pick_a_scorecard(manager):
    red = published("Red", {"field": "health.status", "op": "eq", "value": "red"})
    response = api_client(manager).post(URL, valid(segment=red.pk), format="json")
    assert response.status_code == 400 and "segment" in response.json()
