"""The segment builder in the app (segments.builder): a new segment saved as a draft or
published, the live count of a definition, the builder's grouped schema, and a new version
published at once."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.tests.factories import AccountFactory
from segments import selectors
from segments.models import ExclusiveGroup, Segment
from segments.services import segment_create

pytestmark = pytest.mark.django_db

NESTED = {
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


@pytest.fixture
def accounts():
    return {
        "emea": AccountFactory(name="Emea big", region="EMEA", plan="pro", arr=Decimal(5000)),
        "ent": AccountFactory(name="Ent big", region="NA", plan="enterprise", arr=Decimal(2000)),
        "small": AccountFactory(name="Emea small", region="EMEA", plan="pro", arr=Decimal(10)),
        "other": AccountFactory(name="Other", region="NA", plan="pro", arr=Decimal(9000)),
    }


def post_new(client, rule, action="draft", **extra):
    data = {
        "name": "Expansion",
        "kind": "dynamic",
        "review_every_days": "30",
        "priority": "100",
        "rule": json.dumps(rule),
        "rank_by": "",
        "rank_limit": "",
        "note": "first cut",
        "action": action,
        **extra,
    }
    return client.post(reverse("segment-new"), data)


def test_new_segment_is_saved_as_a_draft_and_previewed(client, manager, accounts):
    client.force_login(manager)

    response = post_new(client, NESTED)

    segment = Segment.objects.get(name="Expansion")
    assert response.status_code == 302
    assert response["Location"] == reverse("segment-version", args=[segment.pk, 1])
    assert segment.current_version is None
    version = segment.versions.get()
    assert version.rule == NESTED and version.note == "first cut"
    preview = client.get(response["Location"]).content.decode()
    assert "Emea big" in preview and "Ent big" in preview and "Other" not in preview


def test_new_segment_published_at_once(
    client, manager, accounts, eager_tasks, django_capture_on_commit_callbacks
):
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_new(client, NESTED, action="publish")

    segment = Segment.objects.get(name="Expansion")
    assert response.status_code == 302 and "recompute=" in response["Location"]
    segment.refresh_from_db()
    assert segment.current_version.number == 1
    assert segment.member_count == 2  # recomputed (eager)


def test_a_bad_rule_is_a_400_naming_its_path_and_saves_nothing(client, manager):
    client.force_login(manager)
    bad = {"all": [{"field": "arr", "op": "gte", "value": "lots"}]}
    response = post_new(client, bad)
    assert response.status_code == 400
    assert "all[0].value" in response.content.decode()
    assert not Segment.objects.exists()
    assert post_new(client, NESTED, name="").status_code == 400


def test_csms_cannot_build_segments(client, csm):
    client.force_login(csm)
    assert client.get(reverse("segment-new")).status_code == 403
    assert client.post(reverse("segment-definition-count"), {"rule": "{}"}).status_code == 403


def test_the_live_count_follows_the_definition_and_the_group(client, manager, accounts):
    client.force_login(manager)
    url = reverse("segment-definition-count")

    counted = client.post(url, {"rule": json.dumps(NESTED), "rank_by": "", "rank_limit": ""})
    ranked = client.post(url, {"rule": json.dumps(NESTED), "rank_by": "arr", "rank_limit": "1"})
    broken = client.post(url, {"rule": '{"all": [', "rank_by": "", "rank_limit": ""})
    invalid = client.post(
        url, {"rule": json.dumps({"field": "nope", "op": "eq", "value": 1}), "rank_by": ""}
    )

    assert counted.json()["count"] == 2 and counted.json()["arr_text"] == "$7.0k"
    assert (ranked.json()["count"], ranked.json()["arr"]) == (1, "5000.00")
    assert broken.status_code == 400 and broken.json()["errors"][0]["path"] == "rule"
    assert invalid.status_code == 400 and "nope" in invalid.json()["errors"][0]["message"]

    # Given a group whose higher segment claims the EMEA account
    group = ExclusiveGroup.objects.create(name="Tiers")
    segment_create(
        name="Top",
        rule={"field": "region", "op": "eq", "value": "EMEA"},
        publish=True,
        exclusive_group=group,
        priority=1,
    )
    # a new segment lower in the group counts without it
    in_group = client.post(
        url,
        {"rule": json.dumps(NESTED), "rank_by": "", "exclusive_group": group.pk, "priority": "5"},
    )
    assert in_group.json()["count"] == 1


def test_an_existing_segment_counts_entering_and_exiting(
    client, manager, accounts, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        segment = segment_create(
            name="Big", rule={"field": "arr", "op": "gte", "value": 5000}, publish=True
        )
    client.force_login(manager)
    response = client.post(
        reverse("segment-version-count", args=[segment.pk]),
        {"rule": json.dumps({"field": "arr", "op": "gte", "value": 2000}), "rank_by": ""},
    )
    ent = accounts["ent"]
    assert response.json() | {"arr": None, "arr_text": None} == {
        "count": 3,
        "count_text": "3",
        "arr": None,
        "arr_text": None,
        "entering": 1,
        "exiting": 0,
        "entering_accounts": [
            {
                "id": ent.pk,
                "name": "Ent big",
                "arr_text": "$2,000",
                "url": reverse("account-detail", args=[ent.pk]),
            }
        ],
        "exiting_accounts": [],
    }
    # Narrowing the rule lists the largest accounts that would exit, ARR first
    narrower = client.post(
        reverse("segment-version-count", args=[segment.pk]),
        {"rule": json.dumps({"field": "arr", "op": "gte", "value": 99999}), "rank_by": ""},
    ).json()
    assert narrower["exiting"] == 2 and narrower["entering_accounts"] == []
    assert [a["name"] for a in narrower["exiting_accounts"]] == ["Other", "Emea big"]


def test_a_new_version_is_published_at_once(
    client, manager, accounts, eager_tasks, django_capture_on_commit_callbacks
):
    segment = segment_create(
        name="Big", rule={"field": "arr", "op": "gte", "value": 5000}, publish=True
    )
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("segment-version-create", args=[segment.pk]),
            {
                "rule": json.dumps({"field": "arr", "op": "gte", "value": 2000}),
                "rank_by": "",
                "rank_limit": "",
                "note": "wider",
                "action": "publish",
            },
        )
    segment.refresh_from_db()
    assert response.status_code == 302
    assert segment.current_version.number == 2 and segment.member_count == 3


def test_the_builder_schema_groups_and_labels_every_field(today):
    schema = selectors.rule_editor_schema()
    grouped = [name for _label, names in schema["groups"] for name in names]
    assert sorted(grouped) == sorted(schema["fields"])
    groups = dict(schema["groups"])
    assert "arr" in groups["Revenue and contracts"] and "region" in groups["Company"]
    assert (schema["fields"]["arr"]["label"], schema["fields"]["region"]["label"]) == (
        "ARR",
        "Region",
    )
    assert schema["operator_labels"]["gte"]["menu_label"]
    assert "EMEA" in schema["choices"]["region"]


def test_the_admin_uses_the_same_builder(admin_client, today):
    html = admin_client.get(reverse("admin:segments_segment_add")).content.decode()
    # the same script and the same grouped schema as the app's pages
    assert "admin/segments/rule_editor.js" in html and '"groups"' in html
