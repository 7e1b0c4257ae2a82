"""Segment pages: list, detail (members, versions, diff, growth), explain, and the manager
actions (new version with inline rule errors, publish, recompute now with its status)."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from segments import services
from segments.models import Membership, SegmentSnapshot, SegmentVersion
from workspace.tests.ui_world import (
    build_world,
    make_account,
    queries_for,
    recompute,
    world_fixture,  # noqa: F401 (the ``world`` fixture)
)

pytestmark = pytest.mark.django_db


def test_segment_list_shows_counts_arr_and_review(client, csm, world):
    client.force_login(csm)
    response = client.get(reverse("segment-list"))
    body = response.content.decode()
    assert "Enterprise" in body
    row = response.context["rows"][0]
    assert row["segment"].member_count == 6
    assert row["review_overdue"] is False
    assert "$186,000" in body  # 10k + 12k + 14k + 3 × 50k


def test_segment_detail_shows_members_rule_growth_and_events(client, csm, world):
    # the world's recomputes ran at the real time; the chart ends on the pinned "today"
    noon = timezone.make_aware(timezone.datetime(*world.today.timetuple()[:3], 12))
    SegmentSnapshot.objects.filter(segment=world.segment).update(computed_at=noon)
    client.force_login(csm)
    response = client.get(reverse("segment-detail", args=[world.segment.id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["member_rows"]) == 6
    assert "<svg" in body and "Numbers as a table" in body
    assert "plan" in body and "enterprise" in body  # the rule, readable
    assert "entered" in body
    assert "Recompute now" not in body  # CSMs don't get manager actions
    if "analytics_partial" in response.context:  # the analytics section, when installed
        assert 'id="segment-analytics"' in body


def test_segment_detail_query_count_does_not_grow_with_members(
    client, csm, other_csm, manager, today
):
    world = build_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    client.force_login(manager)
    url = reverse("segment-detail", args=[world.segment.id])
    few = queries_for(client, url)
    for n in range(5, 50):
        make_account(n=n, owner=csm, today=today, plan="enterprise")
    recompute(world.segment)
    many = queries_for(client, url)
    assert many == few


def test_segment_list_query_count_does_not_grow(client, csm, manager, world):
    client.force_login(csm)
    few = queries_for(client, reverse("segment-list"))
    for n in range(10):
        services.segment_create(name=f"Seg {n}", rule={"all": []}, publish=True)
    many = queries_for(client, reverse("segment-list"))
    assert many == few


def test_explain_renders_each_clause_with_actual_value(client, csm, world):
    account = world.accounts[1]  # a pro account: not in Enterprise
    client.force_login(csm)
    url = reverse("segment-explain", args=[world.segment.id, account.id])
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert "does not match ✗" in body
    assert "actual: <code>pro</code>" in body
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "actual: <code>pro</code>" in fragment
    member = client.get(
        reverse("segment-explain", args=[world.segment.id, world.accounts[0].id])
    ).content.decode()
    assert "matches ✓" in member


def test_versions_diff_between_two_versions(client, manager, world):
    v2 = services.version_create_draft(
        segment=world.segment,
        rule={"all": [{"field": "plan", "op": "in", "value": ["enterprise", "pro"]}]},
        created_by=manager,
    )
    client.force_login(manager)
    response = client.get(
        reverse("segment-detail", args=[world.segment.id]), {"from": 1, "to": v2.number}
    )
    # then the page shows the one version diff, clause by clause (as the admin does)
    lines = response.context["diff"]["lines"]
    assert lines == [("del", "− plan = enterprise"), ("add", "+ plan in [enterprise, pro]")]
    assert "+ plan in [enterprise, pro]" in response.content.decode()


def test_version_detail_of_a_draft_shows_the_preview(client, manager, world):
    draft = services.version_create_draft(
        segment=world.segment,
        rule={"all": [{"field": "plan", "op": "eq", "value": "pro"}]},
        created_by=manager,
    )
    client.force_login(manager)
    response = client.get(reverse("segment-version", args=[world.segment.id, draft.number]))
    preview = response.context["preview"]
    assert preview.count == 2 and preview.entering_count == 2 and preview.exiting_count == 6
    assert b"Publish v2" in response.content


# --- manager actions: the permission matrix ------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [("csm", 403), ("manager", 302)])
def test_version_create_permission(client, world, request, who, expected):
    client.force_login(request.getfixturevalue(who))
    url = reverse("segment-version-create", args=[world.segment.id])
    rule = {"all": [{"field": "arr", "op": "gte", "value": 12000}]}
    response = client.post(url, {"rule": json.dumps(rule), "note": "by ARR"})
    assert response.status_code == expected
    versions = SegmentVersion.objects.filter(segment=world.segment).count()
    assert versions == (2 if expected == 302 else 1)
    assert client.get(url).status_code == (200 if expected == 302 else 403)


def test_version_create_shows_rule_path_errors_and_stores_nothing(client, manager, world):
    client.force_login(manager)
    url = reverse("segment-version-create", args=[world.segment.id])
    bad = {
        "all": [
            {"field": "plan", "op": "eq", "value": "enterprise"},
            {},
            {"field": "arr", "op": "gte", "value": "abc"},
        ]
    }
    response = client.post(url, {"rule": json.dumps(bad)})
    assert response.status_code == 400
    paths = [e["path"] for e in response.context["errors"]]
    assert "all[2].value" in paths
    assert "all[2].value" in response.content.decode()
    assert json.dumps(bad) in response.content.decode().replace("&quot;", '"')  # kept
    not_json = client.post(url, {"rule": "{all: ["})
    assert not_json.status_code == 400 and b"not valid JSON" in not_json.content
    bad_limit = client.post(url, {"rule": '{"all": []}', "rank_by": "arr", "rank_limit": "x"})
    assert bad_limit.status_code == 400 and b"rank_limit" in bad_limit.content
    assert SegmentVersion.objects.filter(segment=world.segment).count() == 1


@pytest.mark.parametrize(("who", "expected"), [("csm", 403), ("manager", 302)])
def test_publish_permission_and_recompute(client, world, request, who, expected):
    draft = services.version_create_draft(
        segment=world.segment, rule={"all": [{"field": "plan", "op": "eq", "value": "pro"}]}
    )
    client.force_login(request.getfixturevalue(who))
    response = client.post(reverse("segment-version-publish", args=[world.segment.id, 2]))
    assert response.status_code == expected
    draft.refresh_from_db()
    world.segment.refresh_from_db()
    if expected == 403:
        assert not draft.is_published and world.segment.current_version.number == 1
    else:
        assert draft.is_published and world.segment.current_version_id == draft.id
        assert "?recompute=" in response["Location"]
        # the recompute runs (here in-process, as the queued task would)
        recompute(world.segment)
        members = set(
            Membership.objects.filter(segment=world.segment).values_list("account__name", flat=True)
        )
        assert members == {"Acme 001", "Acme 003"}


def test_publish_twice_is_refused_with_a_message(client, manager, world):
    client.force_login(manager)
    response = client.post(
        reverse("segment-version-publish", args=[world.segment.id, 1]), follow=True
    )
    assert b"Could not publish v1" in response.content


@pytest.mark.parametrize(("who", "expected"), [("csm", 403), ("manager", 200)])
def test_recompute_now_permission_and_status(client, world, request, who, expected, monkeypatch):
    queued = []
    monkeypatch.setattr(
        "segments.services.recompute_request", lambda **kwargs: queued.append(kwargs)
    )
    client.force_login(request.getfixturevalue(who))
    started = timezone.now()
    response = client.post(
        reverse("segment-recompute", args=[world.segment.id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == expected
    assert len(queued) == (1 if expected == 200 else 0)
    if expected == 200:
        status_url = reverse("segment-recompute-status", args=[world.segment.id])
        running = client.get(status_url, {"started": started.isoformat()})
        assert b"Recomputing" in running.content
        snapshots = SegmentSnapshot.objects.count()
        recompute(world.segment)
        assert SegmentSnapshot.objects.count() == snapshots + 1
        done = client.get(status_url, {"started": started.isoformat()})
        assert b"Recomputed" in done.content and b"hx-get" not in done.content


def test_missing_segment_or_version_is_404(client, csm, world):
    client.force_login(csm)
    assert client.get(reverse("segment-detail", args=[999999])).status_code == 404
    assert client.get(reverse("segment-version", args=[world.segment.id, 99])).status_code == 404


def test_rule_check_while_typing(client, manager, csm, world):
    url = reverse("segment-version-validate", args=[world.segment.id])
    client.force_login(manager)
    bad = client.post(url, {"rule": '{"any": [{"field": "nope", "op": "eq", "value": 1}]}'})
    assert bad.status_code == 200
    assert b"any[0].field" in bad.content and b"This rule has problems" in bad.content
    good = client.post(url, {"rule": '{"not": {"field": "region", "op": "eq", "value": "NA"}}'})
    assert b"Valid rule" in good.content and b"region" in good.content
    assert SegmentVersion.objects.filter(segment=world.segment).count() == 1
    client.force_login(csm)
    assert client.post(url, {"rule": "{}"}).status_code == 403
